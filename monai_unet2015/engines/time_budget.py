"""Training for a wall-clock budget: stop when it is spent, decay the learning rate over it.

A fixed epoch count is right only for the machine and data it was chosen on: the same plan
trains for minutes on one computer and hours on another. A budget in seconds is what a user
can promise ("train for ten minutes"), and it is how the peer benchmark gives this project
and nnU-Net the same training time (``benchmarks/peer_nnunet.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
from ignite.engine import Engine, Events

__all__ = ["TrainingTimeBudget", "TimePolyLR"]

logger = logging.getLogger(__name__)


class TrainingTimeBudget:
    """Stop the trainer at the first epoch end after ``seconds`` of training.

    The clock runs from the trainer's ``STARTED`` (validation included: it is part of what the
    user waits for). The check comes at ``EPOCH_COMPLETED`` after the handlers attached before
    it, so the last epoch is validated and checkpointed as usual; where the last epoch was not
    a validation epoch, it is validated here (``evaluator``), so ``model.pt``'s choice sees the
    network that the budget ended on. The time spent is part of the trainer's checkpoint
    (``state_dict``), so a resumed run spends only what is left. Under torch.distributed
    (torchrun) rank 0's clock decides for every rank, so none waits for a rank that stopped.

    Args:
        seconds: the budget, > 0.
        evaluator: validated at the stop if the last epoch was not (None: not validated).
        clock: seconds as a float (``time.perf_counter``; a test passes a fake clock).

    Example::

        >>> from ignite.engine import Engine
        >>> ticks = iter(range(100))
        >>> budget = TrainingTimeBudget(5.0, clock=lambda: float(next(ticks)))
        >>> trainer = Engine(lambda engine, batch: None)
        >>> budget.attach(trainer)
        >>> trainer.run([0], max_epochs=50).epoch
        5
    """

    def __init__(self, seconds: float, evaluator: Engine | None = None, clock: Callable[[], float] = time.perf_counter):
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
            raise ValueError(f"time_budget_s must be a number of seconds > 0, got {seconds!r}.")
        self.seconds = float(seconds)
        self.evaluator = evaluator
        self.clock = clock
        self._spent_before = 0.0
        self._started: float | None = None
        self._validated_epoch: int | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._check)
        if self.evaluator is not None:
            self.evaluator.add_event_handler(Events.COMPLETED, self._note_validation, engine)

    @property
    def elapsed(self) -> float:
        """Seconds of training so far, earlier (resumed) runs included."""
        running = 0.0 if self._started is None else self.clock() - self._started
        return self._spent_before + running

    def fraction(self) -> float:
        """The share of the budget spent, 0..1."""
        return min(1.0, self.elapsed / self.seconds)

    def _start(self, engine: Engine) -> None:
        self._started = self.clock()
        if self._spent_before >= self.seconds:  # resumed after the budget was spent
            logger.info("time budget of %.0f s already spent: nothing left to train", self.seconds)
            engine.terminate()

    def _note_validation(self, evaluator: Engine, trainer: Engine) -> None:
        self._validated_epoch = trainer.state.epoch

    def _check(self, engine: Engine) -> None:
        if not _agreed(self.elapsed >= self.seconds):
            return
        if self.evaluator is not None and self._validated_epoch != engine.state.epoch:
            self.evaluator.run(engine.state.epoch)
        logger.info(
            "time budget of %.0f s spent after %d epochs (%.0f s): training stops",
            self.seconds,
            engine.state.epoch,
            self.elapsed,
        )
        engine.terminate()

    def state_dict(self) -> dict:
        return {"elapsed": self.elapsed}

    def load_state_dict(self, state_dict: dict) -> None:
        self._spent_before = float(state_dict["elapsed"])
        if self._started is not None:
            self._started = self.clock()


def _agreed(spent: bool) -> bool:
    """Under torch.distributed rank 0's clock decides, so every rank stops after the same epoch."""
    if not (dist.is_available() and dist.is_initialized()):
        return spent
    on_gpu = dist.get_backend() == "nccl"
    flag = torch.tensor([float(spent)], device=torch.device("cuda", torch.cuda.current_device()) if on_gpu else "cpu")
    dist.broadcast(flag, src=0)
    return bool(flag.item())


class TimePolyLR(torch.optim.lr_scheduler.LRScheduler):
    """nnU-Net's poly decay over the budget's time: ``lr = base_lr * (1 - t / budget) ** power``.

    Step it every iteration (``LrScheduleHandler(..., epoch_level=False)``). The rate depends
    on the clock only, so a resumed run continues on the same curve.

    Args:
        optimizer: the optimizer whose ``lr`` it sets.
        budget: the :class:`TrainingTimeBudget` whose spent share it reads.
        power: the exponent, nnU-Net's 0.9.

    Example::

        >>> import torch
        >>> budget = TrainingTimeBudget(10.0, clock=lambda: 0.0)
        >>> optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.01)
        >>> scheduler = TimePolyLR(optimizer, budget)
        >>> budget._spent_before = 5.0
        >>> scheduler.step()
        >>> round(optimizer.param_groups[0]["lr"], 5)
        0.00536
    """

    def __init__(self, optimizer: torch.optim.Optimizer, budget: TrainingTimeBudget, power: float = 0.9) -> None:
        if not isinstance(budget, TrainingTimeBudget):
            raise TypeError(f"budget must be a TrainingTimeBudget, got {type(budget).__name__}.")
        self.budget, self.power = budget, float(power)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        factor = (1.0 - self.budget.fraction()) ** self.power
        return [base_lr * factor for base_lr in self.base_lrs]

    def state_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "budget")}
