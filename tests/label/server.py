"""A real MONAI Label server with the app, in its own virtual environment, for the tests."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from monai.bundle import ConfigWorkflow

from monai_unet2015.bundle.locations import with_common_config
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "apps" / "monai_unet2015"
STANDINS = Path(__file__).resolve().parent / "standins"
#: MONAI Label's environment (``make label-install``); MONAI_UNET2015_LABEL_PYTHON names another.
LABEL_PYTHON = Path(os.environ.get("MONAI_UNET2015_LABEL_PYTHON", REPO / ".venv-label" / "bin" / "python"))


@functools.cache
def label_environment_problem() -> str | None:
    """Why the MONAI Label tests cannot run here, or None when they can (asked once per process)."""
    if not LABEL_PYTHON.is_file():
        return f"no MONAI Label environment at {LABEL_PYTHON}: run `make label-install`"
    probe = subprocess.run([str(LABEL_PYTHON), "-c", "import monailabel"], capture_output=True, text=True)
    if probe.returncode:
        return f"monailabel does not import in {LABEL_PYTHON}: {probe.stderr.strip().splitlines()[-1]}"
    return None


def server_environment(workdir: Path) -> dict:
    """The server's environment: the torchvision stand-in where needed, no internet, one thread."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    probe = subprocess.run([str(LABEL_PYTHON), "-c", "import torchvision.utils"], capture_output=True)
    if probe.returncode:  # CPU torch here has no torchvision build: the test-only stand-in
        env["PYTHONPATH"] = str(STANDINS)
    env.update(
        MONAI_LABEL_SESSION_PATH=str(workdir / "sessions"),
        # Anything that tries the internet fails at once: the app must start offline.
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="1",
    )
    return env


@dataclass
class Response:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class LabelServer:
    """``monailabel start_server`` on 127.0.0.1 with the app, started and stopped by its PID."""

    process: subprocess.Popen
    url: str
    log: Path
    model_dir: Path

    @classmethod
    def start(cls, studies: Path, workdir: Path, models: str, timeout: float = 180.0) -> LabelServer:
        app = workdir / "app"  # the server writes model/, logs/, lib/, bin/ into the app folder
        app.mkdir(parents=True)
        shutil.copy2(APP / "main.py", app / "main.py")
        port, log = free_port(), workdir / "server.log"
        command = [str(LABEL_PYTHON), "-m", "monailabel.main", "start_server", "--app", str(app)]
        command += ["--studies", str(studies), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--conf", "models", models]
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=server_environment(workdir), cwd=workdir
            )
        server = cls(process, f"http://127.0.0.1:{port}", log, app / "model")
        server._wait_until_up(timeout)
        return server

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.get("/info/").status == 200:
                    return
            except OSError:
                pass
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"the server did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 300.0) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                return Response(answer.status, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: dict | None = None) -> Response:
        return self.request("POST", path, body)

    def train(self, model: str, timeout: float = 600.0, **params) -> dict:
        """Start a training run the way 3D Slicer does (in the background); return its final status."""
        started = self.post(f"/train/{model}", params)
        if started.status != 200:
            raise RuntimeError(f"POST /train/{model} answered {started.status}: {started.body!r}")
        task_id = started.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = next(t for t in self.get("/train/?all=true").json() if t["id"] == task_id)
            if task["status"] not in ("SUBMITTED", "RUNNING"):
                return task
            time.sleep(1.0)
        raise TimeoutError(f"training did not end within {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM to the server's PID; SIGKILL if it has not ended after ``timeout``."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


@functools.lru_cache(maxsize=1)
def server_backend() -> str:
    """What the bundles' ``backend: auto`` is in MONAI Label's environment: OpenVINO where it
    imports there (its ``label`` extra does not install it), else PyTorch. Offline inference
    uses the same, so that bf16 rounds the same way on both sides."""
    probe = subprocess.run([str(LABEL_PYTHON), "-c", "import openvino"], capture_output=True)
    return "openvino" if probe.returncode == 0 else "torch"


def bundle_inference(bundle: Path, weights: Path, image: Path, out_dir: Path) -> Path:
    """The bundle's own ``inference.json`` on one image with the given weights; the mask's path.

    The class mask, ``<name>_seg.*`` (the 2D bundle writes ``<name>_instances.png`` beside it);
    the tiles run in the backend the MONAI Label server runs them in (:func:`server_backend`).
    """
    configs = bundle / "configs"
    flow = ConfigWorkflow(
        config_file=with_common_config(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        workflow_type="infer",
        bundle_root=str(bundle),
        ckpt_dir=str(weights.parent),
        datalist=[{"image": str(image)}],
        output_dir=str(out_dir),
        progress=False,
        dicom_seg=False,
        backend=server_backend(),
    )
    flow.initialize()
    flow.run()
    (mask,) = out_dir.glob("*_seg.*")
    return mask
