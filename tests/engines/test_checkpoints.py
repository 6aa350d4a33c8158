"""ResumeFromLatest: a finished run says so, a corrupt newest checkpoint falls back, another net is refused; the
best model survives a resume."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from monai_unet2015.engines import (
    ResumeFromLatest,
    TrainingFinishedError,
    checkpoint_count,
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


@pytest.mark.parametrize(
    "name, count",
    [("checkpoint_epoch=7.pt", 7), ("net_checkpoint_iteration=1200.pt", 1200), ("models/checkpoint_epoch=0.pt", 0)],
)
def test_checkpoint_count_reads_the_n_of_the_name(name, count):
    assert checkpoint_count(name) == count


@pytest.mark.parametrize("name", ["model.pt", "checkpoint_epoch=7.pth", "checkpoint_epoch=.pt", "best_metric=0.9.pt"])
def test_checkpoint_count_of_another_file_names_it(name):
    with pytest.raises(
        ValueError, match=re.escape(f"{name} is not an interval checkpoint (a name ending in _epoch=<N>.pt")
    ):
        checkpoint_count(name)


def test_interval_checkpoints_are_ordered_by_their_count_not_their_name(tmp_path):
    for epochs in (9, 10, 2):
        (tmp_path / f"checkpoint_epoch={epochs}.pt").touch()
    (tmp_path / "model.pt").touch()
    assert [checkpoint_count(path) for path in interval_checkpoints(tmp_path)] == [10, 9, 2]


def test_nothing_to_resume_from_attaches_nothing(tmp_path):
    from ignite.engine import Engine

    engine = Engine(lambda e, b: None)
    resume = ResumeFromLatest(tmp_path, {"network": torch.nn.Linear(1, 1), "trainer": engine})
    resume.attach(engine)
    assert not engine.has_event_handler(resume.restore)


class ScriptedQuality(torch.nn.Module):
    """A stand-in net: its input label back as logits, a share ``1 - quality`` of the pixels flipped.

    ``epoch_tag`` (a buffer, so it is in ``model.pt``) tells which epoch's network was saved.
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer("quality", torch.tensor(1.0))
        self.register_buffer("epoch_tag", torch.tensor(0))

    def forward(self, x):
        label = x[:, 0].round().long()
        flipped = torch.arange(label.numel()).reshape(label.shape) % 100 >= self.quality * 100
        label = torch.where(flipped, 1 - label, label)
        return torch.nn.functional.one_hot(label, 2).permute(0, 3, 1, 2).float() * 20 + self.weight


QUALITY = {1: 0.9, 2: 0.6, 3: 0.7, 4: 1.0}  # validation after epoch 1 is the best until epoch 4


def scripted_run(samples, ckpt_dir, max_epochs, **kwargs):
    from ignite.engine import Events
    from monai.data import DataLoader

    from monai_unet2015.engines import create_evaluator

    data = [{"image": (s["label"] > 0).astype("float32"), "label": (s["label"] > 0).astype("int64")} for s in samples]
    net = ScriptedQuality()
    evaluator = create_evaluator(net, DataLoader(data, batch_size=1), num_classes=2, device="cpu", ckpt_dir=ckpt_dir)
    trainer = create_trainer(
        net,
        DataLoader(data, batch_size=1),
        max_epochs=max_epochs,
        evaluator=evaluator,
        device="cpu",
        ckpt_dir=ckpt_dir,
        progress=False,
        use_weight_map=False,
        **kwargs,
    )

    @trainer.on(Events.EPOCH_STARTED)
    def script(engine):
        net.quality.fill_(QUALITY[engine.state.epoch])
        net.epoch_tag.fill_(engine.state.epoch)

    trainer.run()
    return evaluator


def saved_epoch(ckpt_dir) -> int:
    return int(torch.load(ckpt_dir / "model.pt", weights_only=True)["epoch_tag"])


def test_a_resumed_run_keeps_the_best_model_until_a_better_one(tiny_samples, tmp_path):
    first = scripted_run(tiny_samples, tmp_path, max_epochs=2)  # stopped after epoch 2, as by a kill
    assert saved_epoch(tmp_path) == 1 and first.state.best_metric_epoch == 1
    best = first.state.best_metric

    resumed = scripted_run(tiny_samples, tmp_path, max_epochs=3)  # epoch 3 scores below epoch 1
    assert resumed.state.metrics["val_mean_dice"] < best
    assert saved_epoch(tmp_path) == 1, "the first validation after resuming replaced a better model.pt"
    assert (resumed.state.best_metric, resumed.state.best_metric_epoch) == (best, 1)

    better = scripted_run(tiny_samples, tmp_path, max_epochs=4)  # epoch 4 beats it
    assert saved_epoch(tmp_path) == 4 and better.state.best_metric > best


def test_resume_loads_the_checkpoint_file_once(tiny_samples, tmp_path, monkeypatch):
    train(tiny_samples, tmp_path, max_epochs=1)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    *_, trainer = train(tiny_samples, tmp_path, max_epochs=2)
    assert trainer.state.epoch == 2 and [p.name for p in loads] == ["checkpoint_epoch=1.pt"]


def test_a_run_shorter_than_its_validation_interval_still_leaves_a_model(tiny_samples, tmp_path):
    evaluator = scripted_run(tiny_samples, tmp_path, max_epochs=1, val_interval=16)
    assert saved_epoch(tmp_path) == 1 and evaluator.state.best_metric_epoch == 1


def test_a_full_disk_names_the_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import monai_unet2015.engines.checkpoints as checkpoints

    def full_disk(state, path):
        Path(path).write_bytes(b"half")
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(checkpoints.torch, "save", full_disk)
    with pytest.raises(OSError, match=rf"could not write {re.escape(str(tmp_path))}/model.pt \(basic_ios::clear: "):
        checkpoints.save_whole({"w": torch.zeros(1)}, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []
