"""create_trainer / create_evaluator: resume, cropped-label metrics, fail-loud, arguments."""

from __future__ import annotations

import logging

import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader
from monai.inferers import SimpleInferer

from monai_unet2015.engines import NonFiniteLossError, create_evaluator, create_trainer, paper_optimizer
from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.losses import PixelWeightedCrossEntropyLoss
from tests.conftest import cuda_or_skip
from tests.engines.conftest import tiny_net, training_loader, validation_loader


def train(samples, ckpt_dir, max_epochs, init_seed=0, **kwargs):
    torch.manual_seed(init_seed)  # a resumed run must not depend on it: the checkpoint replaces the weights
    net = tiny_net()
    optimizer = paper_optimizer(net.parameters(), learning_rate=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer = create_trainer(
        net,
        training_loader(samples),
        max_epochs=max_epochs,
        optimizer=optimizer,
        lr_scheduler=scheduler,
        device="cpu",
        ckpt_dir=ckpt_dir,
        progress=False,
        seed=7,
        **kwargs,
    )
    trainer.state.iterations_run = 0
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: setattr(e.state, "iterations_run", e.state.iterations_run + 1)
    )
    trainer.run()
    return net, optimizer, scheduler, trainer


def test_resume_continues_exactly_like_an_uninterrupted_run(tiny_samples, tmp_path):
    net_whole, opt_whole, _, trainer_whole = train(tiny_samples, tmp_path / "whole", max_epochs=3)

    train(tiny_samples, tmp_path / "stopped", max_epochs=1)  # stop after 3 iterations
    assert sorted(p.name for p in (tmp_path / "stopped").iterdir()) == ["checkpoint_epoch=1.pt"]
    net, optimizer, scheduler, trainer = train(tiny_samples, tmp_path / "stopped", max_epochs=3, init_seed=1)

    assert trainer.state.iterations_run == 6  # epochs 2 and 3 only
    assert (trainer.state.epoch, trainer.state.iteration) == (3, 9) == (trainer_whole.state.epoch, 9)
    assert scheduler.last_epoch == 3 and optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 8)
    for (name, a), b in zip(net_whole.state_dict().items(), net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resuming")
    momentum_whole = [opt_whole.state[p]["momentum_buffer"] for p in net_whole.parameters()]
    momentum = [optimizer.state[p]["momentum_buffer"] for p in net.parameters()]
    for a, b in zip(momentum_whole, momentum):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_no_resume_starts_over(tiny_samples, tmp_path):
    train(tiny_samples, tmp_path, max_epochs=1)
    *_, trainer = train(tiny_samples, tmp_path, max_epochs=1, resume=False)
    assert trainer.state.iteration == trainer.state.iterations_run == 3


class CentreOneHot(torch.nn.Module):
    """A stand-in net: the centre of its input label, shrunk by ``margin``, as confident logits."""

    def __init__(self, margin: int, shift: int = 0) -> None:
        super().__init__()
        self.margin, self.shift = margin, shift
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        m, s = self.margin, self.shift
        centre = x[:, :, m + s : x.shape[2] - m + s, m : x.shape[3] - m].long()[:, 0]
        return torch.nn.functional.one_hot(centre, 2).permute(0, 3, 1, 2).float() * 20


def label_as_image_loader(samples):
    loader = validation_loader(samples)
    return DataLoader([{"image": b["label"][0].float(), "label": b["label"][0]} for b in loader], batch_size=1)


def test_evaluator_scores_the_centre_of_an_input_sized_label(tiny_samples):
    loader = label_as_image_loader(tiny_samples)
    aligned = create_evaluator(CentreOneHot(margin=8), loader, num_classes=2, device="cpu", inferer=SimpleInferer())
    aligned.run()
    assert aligned.state.metrics["val_mean_dice"] == pytest.approx(1.0)
    shifted = create_evaluator(CentreOneHot(margin=8, shift=3), loader, num_classes=2, device="cpu")
    shifted.run()
    assert shifted.state.metrics["val_mean_dice"] < 0.95


def test_evaluator_with_overlap_tile_inference_scores_the_whole_image(tiny_samples):
    net = tiny_net().eval()
    evaluator = create_evaluator(
        net, validation_loader(tiny_samples), num_classes=2, device="cpu", inferer=OverlapTileInferer(roi_size=60)
    )
    evaluator.run()
    assert 0.0 <= evaluator.state.metrics["val_mean_dice"] <= 1.0
    assert evaluator.state.output[0]["pred"].shape[1:] == tiny_samples[0]["label"].shape[1:]


def test_trainer_validates_saves_best_model_and_logs(tiny_samples, tmp_path):
    net = tiny_net()
    evaluator = create_evaluator(
        net, validation_loader(tiny_samples[:1]), num_classes=2, device="cpu", ckpt_dir=tmp_path, log_dir=tmp_path
    )
    trainer = create_trainer(
        net, training_loader(tiny_samples), max_epochs=2, evaluator=evaluator, device="cpu", log_dir=tmp_path
    )  # with the progress bar
    trainer.run()
    assert evaluator.state.epoch == 2 and "val_mean_dice" in evaluator.state.metrics
    assert (tmp_path / "model.pt").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


class Recorded(logging.Handler):
    """Every record of the trainer's loggers, whatever MONAI's ``get_logger`` did to their propagation."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        if record.levelno == logging.INFO:
            self.messages.append(record.getMessage())


@pytest.mark.parametrize("verbose", [False, True, False])
def test_the_console_has_one_line_per_epoch_unless_verbose(tiny_samples, tmp_path, verbose):
    recorded = Recorded()
    loggers = [logging.getLogger("monai_unet2015.trainer"), logging.getLogger("ignite.engine.engine.SupervisedTrainer")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # INFO, as the bundles' logging.conf sets it
        logger.addHandler(recorded)
        logger.setLevel(logging.INFO)
    try:
        train(tiny_samples, tmp_path / "ckpt", max_epochs=2, verbose=verbose)
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(recorded)
            logger.setLevel(level)
    messages = recorded.messages
    per_epoch = [m for m in messages if m.startswith("epoch ") and ": train_loss " in m]
    per_iteration = [m for m in messages if "Iter:" in m]
    ignite_lines = [m for m in messages if "Complete. Time taken" in m or "Saved checkpoint" in m]
    if verbose:
        assert per_iteration and ignite_lines and not per_epoch
    else:
        assert [m.split(":")[0] for m in per_epoch] == ["epoch 1/2", "epoch 2/2"]
        assert not per_iteration and not ignite_lines


def test_non_finite_loss_stops_training_with_a_clear_message(tiny_samples):
    class NaNAfterTwo(PixelWeightedCrossEntropyLoss):
        calls = 0

        def forward(self, input, target, weight=None):
            self.calls += 1
            loss = super().forward(input, target, weight)
            return loss * float("nan") if self.calls > 2 else loss

    trainer = create_trainer(
        tiny_net(),
        training_loader(tiny_samples),
        max_epochs=2,
        loss_function=NaNAfterTwo(),
        device="cpu",
        progress=False,
    )
    with pytest.raises(NonFiniteLossError, match="loss is nan at epoch 1, iteration 3"):
        trainer.run()


def test_amp_on_cpu_warns_and_trains_in_float32(tiny_samples):
    with pytest.warns(UserWarning, match="amp=True needs a CUDA device"):
        trainer = create_trainer(tiny_net(), training_loader(tiny_samples), 1, device="cpu", amp=True, progress=False)
    assert trainer.amp is False


def test_bf16_autocast_training_on_cuda(tiny_samples):
    device = cuda_or_skip()
    trainer = create_trainer(tiny_net(), training_loader(tiny_samples), 1, device=device, amp=True, progress=False)
    trainer.run()
    assert torch.isfinite(torch.as_tensor(trainer.state.output["loss"])).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_epochs": 0}, "max_epochs must be an int >= 1, got 0"),
        ({"max_epochs": 1, "val_interval": 0}, "val_interval must be an int >= 1, got 0"),
        ({"max_epochs": 1, "lr_scheduler": "cosine"}, r"lr_scheduler: Unsupported option 'cosine'"),
        ({"max_epochs": 1, "grad_clip_norm": 0.0}, "max_norm must be a number > 0, got 0.0"),
    ],
)
def test_invalid_trainer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_trainer(tiny_net(), [], device="cpu", **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "rmsprop"}, r"name: Unsupported option 'rmsprop', Available options are"),
        ({"learning_rate": 0}, "learning_rate must be > 0, got 0"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ],
)
def test_invalid_optimizer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paper_optimizer(tiny_net().parameters(), **kwargs)


def test_adam_option():
    assert isinstance(paper_optimizer(tiny_net().parameters(), name="adam"), torch.optim.Adam)


def test_evaluator_needs_a_class_count():
    with pytest.raises(ValueError, match="num_classes must be an int >= 1, got 0"):
        create_evaluator(tiny_net(), [], num_classes=0, device="cpu")


def _scheduler_of(trainer):
    handlers = [h for h, _, _ in trainer._event_handlers[Events.EPOCH_COMPLETED]]
    schedulers = [getattr(h, "__self__", h) for h in handlers]
    return next((s.lr_scheduler for s in schedulers if type(s).__name__ == "LrScheduleHandler"), None)


def test_the_default_schedule_is_poly_decay_over_max_epochs_and_none_is_the_papers_constant_rate():
    trainer = create_trainer(tiny_net(), [], max_epochs=8, device="cpu", progress=False)
    scheduler = _scheduler_of(trainer)
    assert type(scheduler).__name__ == "PolynomialLR" and scheduler.total_iters == 8 and scheduler.power == 0.9
    constant = create_trainer(tiny_net(), [], max_epochs=8, device="cpu", progress=False, lr_scheduler=None)
    assert _scheduler_of(constant) is None


def test_the_learning_rate_reaches_zero_at_max_epochs(tiny_samples):
    trainer = create_trainer(tiny_net(), training_loader(tiny_samples), max_epochs=3, device="cpu", progress=False)
    rates = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: rates.append(e.optimizer.param_groups[0]["lr"]))
    trainer.run()
    assert rates[0] == pytest.approx(0.003) and rates[0] > rates[1] > rates[2] > 0
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
