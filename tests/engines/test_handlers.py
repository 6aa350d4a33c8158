"""SeedEveryEpoch, StopOnNonFiniteLoss, latest_checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine

from monai_unet2015.engines import NonFiniteLossError, SeedEveryEpoch, StopOnNonFiniteLoss, latest_checkpoint


def test_seed_every_epoch_makes_epochs_independent_of_the_past():
    draws: dict[int, list[float]] = {}

    def step(engine, _):
        draws.setdefault(engine.state.epoch, []).append(torch.rand(1).item() + np.random.rand())

    engine = Engine(step)
    SeedEveryEpoch(seed=3).attach(engine)
    engine.run([0, 1], max_epochs=2)
    second_epoch = list(draws[2])
    torch.rand(100), np.random.rand(100)  # consume random numbers
    draws.clear()
    engine.state.epoch = 1  # as after resuming from an epoch-1 checkpoint
    engine.run([0, 1], max_epochs=2)
    assert draws[2] == second_epoch


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_seed_must_be_a_non_negative_int(seed):
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        SeedEveryEpoch(seed)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_loss_raises_with_epoch_and_iteration(bad):
    losses = iter([1.0, 0.5, bad])
    engine = Engine(lambda e, b: [{"loss": torch.tensor(next(losses))}])  # decollated output
    StopOnNonFiniteLoss().attach(engine)
    with pytest.raises(NonFiniteLossError, match=rf"loss is {bad} at epoch 2, iteration 3 .*Lower the learning rate"):
        engine.run([0, 1], max_epochs=2)


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    assert latest_checkpoint(tmp_path) is None
    for name in ("checkpoint_epoch=9.pt", "checkpoint_epoch=11.pt", "model.pt", "notes_epoch=x.pt"):
        (tmp_path / name).write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "checkpoint_epoch=11.pt"


class _Validation(Engine):
    """``run(epoch)``, as MONAI's Evaluator; records the epochs it validated."""

    def __init__(self) -> None:
        super().__init__(lambda engine, epoch: None)
        self.epochs: list[int] = []

    def run(self, epoch):
        self.epochs.append(epoch)
        return super().run([epoch])


@pytest.mark.parametrize("max_epochs, validated", [(1, [1]), (3, [2, 3]), (4, [2, 4])])
def test_the_last_epoch_is_validated_once(max_epochs, validated):
    from ignite.engine import Events

    from monai_unet2015.engines import ValidateLastEpoch

    evaluator, trainer = _Validation(), Engine(lambda engine, batch: None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED(every=2), lambda engine: evaluator.run(engine.state.epoch))
    ValidateLastEpoch(evaluator).attach(trainer)
    trainer.run([0], max_epochs=max_epochs)
    assert evaluator.epochs == validated


def test_validate_last_epoch_takes_an_engine():
    from monai_unet2015.engines import ValidateLastEpoch

    with pytest.raises(TypeError, match="evaluator must be an ignite Engine, got list"):
        ValidateLastEpoch([])
