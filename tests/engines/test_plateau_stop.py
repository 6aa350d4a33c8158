"""early_stop_patience / plateau_stop: training ends when the validation Dice stops rising, also across a resume."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events

from monai_unet2015.engines import create_evaluator, create_trainer, latest_checkpoint, plateau_stop
from tests.engines.conftest import tiny_net, training_loader, validation_loader


def scripted_validation(scores: list[float]) -> tuple[Engine, Engine]:
    """A trainer validated every epoch by an evaluator whose key metric follows ``scores``."""
    trainer, evaluator = Engine(lambda e, b: None), Engine(lambda e, b: None)
    evaluator.state.key_metric_name = "val_mean_dice"

    def validate(engine: Engine) -> None:
        evaluator.state.metrics = {"val_mean_dice": scores[engine.state.epoch - 1]}
        evaluator.run([0])

    trainer.add_event_handler(Events.EPOCH_COMPLETED, validate)
    return trainer, evaluator


@pytest.mark.parametrize(
    "scores, patience, stopped_at",
    [
        ([0.1, 0.2, 0.3, 0.3, 0.3, 0.9, 0.9], 2, 5),  # two validations without a new best
        ([0.1, 0.2, 0.1, 0.3, 0.2, 0.4, 0.3], 2, 7),  # each dip is followed by a new best: runs to the end
        ([0.5, 0.4, 0.4, 0.4, 0.6, 0.6, 0.6], 3, 4),
    ],
)
def test_the_trainer_stops_after_patience_validations_without_a_new_best(scores, patience, stopped_at):
    trainer, evaluator = scripted_validation(scores)
    plateau_stop(evaluator, trainer, patience)
    assert trainer.run([0], max_epochs=len(scores)).epoch == stopped_at


def frozen_trainer(samples, ckpt_dir, max_epochs: int, patience: int):
    """A trainer that cannot learn (learning rate 0): its validation Dice is the same every epoch."""
    net = tiny_net()
    evaluator = create_evaluator(net, validation_loader(samples[:1]), 2, device="cpu", ckpt_dir=ckpt_dir)
    return create_trainer(
        net,
        training_loader(samples, augment=False),
        max_epochs=max_epochs,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.0),
        evaluator=evaluator,
        val_interval=1,
        device="cpu",
        ckpt_dir=ckpt_dir,
        progress=False,
        early_stop_patience=patience,
    )


def test_create_trainer_stops_on_a_plateau_and_keeps_the_best_model(tiny_samples, tmp_path):
    trainer = frozen_trainer(tiny_samples, tmp_path, max_epochs=50, patience=2)
    trainer.run()
    assert trainer.state.epoch == 3  # the best at epoch 1, then two validations without a better one
    assert (tmp_path / "model.pt").exists()
    checkpoint = torch.load(latest_checkpoint(tmp_path), weights_only=False)
    assert checkpoint["early_stop"]["counter"] == 2


def test_a_resumed_run_counts_on_from_the_checkpoint(tiny_samples, tmp_path):
    frozen_trainer(tiny_samples, tmp_path, max_epochs=2, patience=3).run()  # epoch 2 did not improve: counter 1
    resumed = frozen_trainer(tiny_samples, tmp_path, max_epochs=50, patience=3)
    resumed.run()
    assert resumed.state.epoch == 4  # counter 2 at epoch 3, 3 at epoch 4 (a fresh counter would stop at 6)


@pytest.mark.parametrize("patience", [0, -1, 2.5, True, "3"])
def test_early_stop_patience_must_be_a_positive_int(tiny_samples, patience):
    net = tiny_net()
    evaluator = create_evaluator(net, validation_loader(tiny_samples[:1]), 2, device="cpu")
    with pytest.raises(ValueError, match=f"early_stop_patience must be an int >= 1 or None, got {patience!r}"):
        create_trainer(net, training_loader(tiny_samples), 2, evaluator=evaluator, early_stop_patience=patience)


def test_early_stop_patience_needs_an_evaluator(tiny_samples):
    with pytest.raises(ValueError, match="early_stop_patience=3 needs an evaluator"):
        create_trainer(tiny_net(), training_loader(tiny_samples), 2, device="cpu", early_stop_patience=3)
