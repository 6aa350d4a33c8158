"""One training at a time in a bundle's models folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from monai_unet2015.bundle import BundleInputError, TrainingLock
from monai_unet2015.bundle.lock import LOCK_NAME


def hold(folder, pid: int, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    holder = {"pid": pid, "host": host or socket.gethostname(), "started": "2026-12-07 05:00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(holder))


@pytest.fixture
def other_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)


def test_the_lock_names_this_process_and_goes_on_release(tmp_path):
    lock = TrainingLock(tmp_path / "models")
    lock.acquire()
    holder = json.loads((tmp_path / "models" / LOCK_NAME).read_text())
    assert (holder["pid"], holder["host"]) == (os.getpid(), socket.gethostname())
    lock.release()
    assert not (tmp_path / "models" / LOCK_NAME).exists()


def test_a_running_training_keeps_its_folder(tmp_path, other_process):
    hold(tmp_path, other_process.pid)
    with pytest.raises(BundleInputError, match=rf"{tmp_path} is being trained by process {other_process.pid} on "):
        TrainingLock(tmp_path).acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == other_process.pid


def test_a_lock_held_on_another_machine_is_respected(tmp_path):
    hold(tmp_path, os.getpid(), host="another-machine")
    with pytest.raises(BundleInputError, match=rf"process {os.getpid()} on another-machine since 2026-12-07 05:00:00"):
        TrainingLock(tmp_path).acquire()


def test_the_lock_of_a_killed_training_is_taken_over_with_a_warning(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    hold(tmp_path, dead_pid)
    lock = TrainingLock(tmp_path)
    with pytest.warns(UserWarning, match=rf"taking over the lock of process {dead_pid}, which no longer runs"):
        lock.acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_release_leaves_another_runs_lock_alone(tmp_path, other_process):
    hold(tmp_path, other_process.pid)
    TrainingLock(tmp_path).release()
    assert (tmp_path / LOCK_NAME).exists()


def test_only_rank_0_takes_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    TrainingLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_folder_must_be_a_path():
    with pytest.raises(TypeError, match="folder must be a path, got int"):
        TrainingLock(3)
