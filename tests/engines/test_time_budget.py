"""TrainingTimeBudget / TimePolyLR: stop when the budget is spent, decay over it, survive a resume."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events

from monai_unet2015.engines import TimePolyLR, TrainingTimeBudget, create_evaluator, create_trainer, latest_checkpoint
from tests.engines.conftest import tiny_net, training_loader, validation_loader


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def engine_with(budget: TrainingTimeBudget, clock: FakeClock, seconds_per_epoch: float) -> Engine:
    engine = Engine(lambda e, batch: None)
    engine.add_event_handler(Events.EPOCH_STARTED, lambda e: setattr(clock, "now", clock.now + seconds_per_epoch))
    budget.attach(engine)
    return engine


def test_stops_at_the_first_epoch_end_past_the_budget():
    clock = FakeClock()
    engine = engine_with(TrainingTimeBudget(10.0, clock=clock), clock, seconds_per_epoch=3.0)
    assert engine.run([0], max_epochs=100).epoch == 4  # 3, 6, 9 s: go on; 12 s: stop


def test_max_epochs_still_caps_the_run():
    clock = FakeClock()
    engine = engine_with(TrainingTimeBudget(1000.0, clock=clock), clock, seconds_per_epoch=1.0)
    assert engine.run([0], max_epochs=5).epoch == 5


def test_a_resumed_run_spends_only_what_is_left():
    clock = FakeClock()
    first = TrainingTimeBudget(10.0, clock=clock)
    engine_with(first, clock, seconds_per_epoch=3.0).run([0], max_epochs=2)
    assert first.state_dict() == {"elapsed": 6.0}
    resumed = TrainingTimeBudget(10.0, clock=clock)
    resumed.load_state_dict(first.state_dict())
    assert engine_with(resumed, clock, seconds_per_epoch=3.0).run([0], max_epochs=100).epoch == 2  # 9, 12 s


def test_a_run_resumed_after_the_budget_trains_nothing():
    clock = FakeClock()
    budget = TrainingTimeBudget(5.0, clock=clock)
    budget.load_state_dict({"elapsed": 5.0})
    engine = engine_with(budget, clock, seconds_per_epoch=1.0)
    iterations = []
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: iterations.append(e.state.iteration))
    engine.run([0], max_epochs=3)
    assert iterations == []


class FakeEvaluator(Engine):
    """Called as MONAI's evaluators are: ``run(global_epoch)``."""

    def __init__(self) -> None:
        super().__init__(lambda e, batch: None)

    def run(self, global_epoch: int = 1):  # noqa: D102
        return super().run([0])


def test_the_last_epoch_is_validated_when_it_was_not_a_validation_epoch():
    clock = FakeClock()
    evaluator = FakeEvaluator()
    validated = []
    evaluator.add_event_handler(Events.COMPLETED, lambda e: validated.append(clock.now))
    budget = TrainingTimeBudget(5.0, evaluator=evaluator, clock=clock)
    engine = Engine(lambda e, batch: None)
    engine.add_event_handler(Events.EPOCH_STARTED, lambda e: setattr(clock, "now", clock.now + 1.0))
    engine.add_event_handler(Events.EPOCH_COMPLETED(every=2), lambda e: evaluator.run(e.state.epoch))  # val_interval 2
    budget.attach(engine)
    assert engine.run([0], max_epochs=100).epoch == 5
    assert validated == [2.0, 4.0, 5.0]  # epochs 2 and 4 by the interval, 5 by the budget


def test_the_learning_rate_decays_over_the_budgets_time():
    clock = FakeClock()
    budget = TrainingTimeBudget(10.0, clock=clock)
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.01)
    optimizer.step()  # as in training: the schedule steps after the optimizer
    scheduler = TimePolyLR(optimizer, budget)
    budget._start(Engine(lambda e, b: None))
    seen = []
    for now in (0.0, 5.0, 10.0, 12.0):
        clock.now = now
        optimizer.step()
        scheduler.step()
        seen.append(optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([0.01, 0.01 * 0.5**0.9, 0.0, 0.0])
    assert "budget" not in scheduler.state_dict() and "optimizer" not in scheduler.state_dict()


@pytest.mark.parametrize("seconds", [0, -1.0, True, "60"])
def test_the_budget_must_be_positive_seconds(seconds):
    with pytest.raises(ValueError, match=rf"time_budget_s must be a number of seconds > 0, got {seconds!r}"):
        TrainingTimeBudget(seconds)


def test_time_poly_needs_a_budget():
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.01)
    with pytest.raises(TypeError, match="budget must be a TrainingTimeBudget, got float"):
        TimePolyLR(optimizer, 10.0)


def test_create_trainer_with_a_budget_stops_early_and_checkpoints_the_time(tiny_samples, tmp_path):
    net = tiny_net()
    evaluator = create_evaluator(net, validation_loader(tiny_samples[:1]), 2, device="cpu", ckpt_dir=tmp_path)
    trainer = create_trainer(
        net,
        training_loader(tiny_samples),
        max_epochs=50,
        evaluator=evaluator,
        val_interval=10,
        device="cpu",
        ckpt_dir=tmp_path,
        progress=False,
        time_budget_s=1e-9,  # spent by the end of any first epoch, on any machine
    )
    schedulers = [h for h, *_ in trainer._event_handlers[Events.ITERATION_COMPLETED] if hasattr(h, "lr_scheduler")]
    assert [type(h.lr_scheduler).__name__ for h in schedulers] == ["TimePolyLR"]
    trainer.run()
    assert trainer.state.epoch == 1
    assert evaluator.state.epoch == 1  # validated at the stop although val_interval is 10
    checkpoint = torch.load(latest_checkpoint(tmp_path), weights_only=False)
    assert checkpoint["time_budget"]["elapsed"] > 0
    assert (tmp_path / "model.pt").exists()


def test_under_torch_distributed_rank_0s_clock_decides(monkeypatch):
    import torch.distributed as dist

    from monai_unet2015.engines import time_budget

    broadcasts = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")

    def rank_0_says_spent(tensor, src):
        broadcasts.append(src)
        tensor.fill_(1.0)

    monkeypatch.setattr(dist, "broadcast", rank_0_says_spent)
    assert time_budget._agreed(False) is True  # this rank's clock says go on; rank 0's says stop
    assert broadcasts == [0]
