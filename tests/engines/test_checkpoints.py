"""ResumeFromLatest: a finished run says so, a corrupt newest checkpoint falls back, another net is refused."""

from __future__ import annotations

import pytest
import torch

from monai_unet2015.engines import (
    ResumeFromLatest,
    TrainingFinishedError,
    create_trainer,
    interval_checkpoints,
    paper_optimizer,
)
from monai_unet2015.networks import UNet2015
from tests.engines.conftest import training_loader
from tests.engines.test_workflows import train


def test_a_finished_run_says_how_to_train_on(tiny_samples, tmp_path):
    train(tiny_samples, tmp_path, max_epochs=2)
    with pytest.raises(
        TrainingFinishedError,
        match=r"has already run 2 epochs \(max_epochs 2\).*--max_epochs 4\) to train on, or a fresh ckpt_dir",
    ):
        train(tiny_samples, tmp_path, max_epochs=2)
    *_, trainer = train(tiny_samples, tmp_path, max_epochs=3)  # more epochs: trains on
    assert trainer.state.iterations_run == 3 and trainer.state.epoch == 3


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tiny_samples, tmp_path):
    train(tiny_samples, tmp_path, max_epochs=2)
    newest = interval_checkpoints(tmp_path)[0]
    assert newest.name == "checkpoint_epoch=2.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # a run killed while saving
    with pytest.warns(UserWarning, match=r"checkpoint_epoch=2.pt cannot be read .*trying the one before it"):
        *_, trainer = train(tiny_samples, tmp_path, max_epochs=3)
    assert trainer.state.iterations_run == 6  # epochs 2 and 3 after epoch 1's checkpoint


def test_a_checkpoint_of_another_network_is_a_one_line_error(tiny_samples, tmp_path):
    train(tiny_samples, tmp_path, max_epochs=1)
    wider = UNet2015(2, 1, 2, features=(8, 16, 32))
    with pytest.raises(
        ValueError,
        match=r"checkpoint_epoch=1.pt does not fit the network \(\d+ shape mismatch\(es\), e.g. .*checkpoint "
        r"\(4, 1, 3, 3\) vs network \(8, 1, 3, 3\)\): resume with the network_def it was trained with",
    ):
        create_trainer(
            wider,
            training_loader(tiny_samples),
            max_epochs=2,
            optimizer=paper_optimizer(wider.parameters()),
            device="cpu",
            ckpt_dir=tmp_path,
            progress=False,
        )


def test_nothing_to_resume_from_attaches_nothing(tmp_path):
    from ignite.engine import Engine

    engine = Engine(lambda e, b: None)
    ResumeFromLatest(tmp_path, {"network": torch.nn.Linear(1, 1), "trainer": engine}).attach(engine)
    assert not engine._event_handlers or all(not handlers for handlers in engine._event_handlers.values())
