# %% [markdown]
# # The bundle from the command line, TorchScript, and a MONAI Label server
#
# The daily workflow around the 3D bundle `unet3d_ct_organs`: check it, train it and segment
# with `python -m monai.bundle`, export the trained net to TorchScript, then serve it from a
# MONAI Label server (the app in `apps/monai_unet2015`) and ask the server for a segmentation,
# the way 3D Slicer does, and for a round of retraining.
#
# `python tutorials/03_bundle_cli_and_monailabel.py [--quick] [--output-dir DIR] [--label-python PY]`.
# The MONAI Label part needs MONAI Label's own environment (`make label-install`, which
# `make test` does too); `--label-python` names its interpreter (default `.venv-label/bin/python`).

# %%
import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from monai_unet2015.bundle.figure import display_figure, overlay_figure
from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.data import CT_LABELS, write_sample_data
from monai_unet2015.label import studies_from_msd
from monai_unet2015.metrics import dice
from monai_unet2015.networks import UNet3D

REPO = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="two epochs of training (CI)")
parser.add_argument("--output-dir", default="tutorial_output/03")
parser.add_argument("--label-python", default=str(REPO / ".venv-label" / "bin" / "python"))
args, _ = parser.parse_known_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])
out = Path(args.output_dir).resolve()
out.mkdir(parents=True, exist_ok=True)
bundle = bundles_dir() / "unet3d_ct_organs"
epochs = 2 if args.quick else 100


def bundle_cli(*arguments: str) -> str:
    """`python -m monai.bundle ...` in the bundle's folder; its last lines of output."""
    result = subprocess.run(
        [sys.executable, "-m", "monai.bundle", *arguments], cwd=bundle, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"monai.bundle {arguments[0]} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and "%|" not in line]
    return "\n".join(lines[-2:])


# %% [markdown]
# ## Sample data: five generated CT volumes in the MSD layout (four to train on, one to test)

# %%
write_sample_data(out / "sample", num_ct=5, num_mri=0, num_cells=0, ct_shape=(128, 128, 32), dicom=False)
dataset = out / "sample" / "ct"
print(json.loads((dataset / "dataset.json").read_text())["labels"])

# %% [markdown]
# ## Check the bundle: metadata against the bundle schema, the network's input and output shapes
# Both run offline (`bundles/meta_schema.json` is the bundle specification's schema).

# %%
print(bundle_cli("verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", "../meta_schema.json"))
print(
    bundle_cli(
        "verify_net_in_out",
        "network_def",
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        "['configs/common.json','configs/inference.json']",
    )
)

# %% [markdown]
# ## Train, then segment the held-out case
# `bundle_root` is where checkpoints and `models/model.pt` go; any config value can be
# overridden on the command line (`--max_epochs`, `--dataset_dir`, ...). `configs/common.json`,
# what training, inference and evaluation share, is merged first.

# %%
work = out / "bundle_root"
shutil.rmtree(work, ignore_errors=True)  # a bundle_root with checkpoints would resume training
common = ["--meta_file", "configs/metadata.json", "--logging_file", "configs/logging.conf"]
print(
    bundle_cli(
        "run",
        "--config_file",
        "['configs/common.json','configs/train.json']",
        *common,
        "--bundle_root",
        str(work),
        "--dataset_dir",
        str(dataset),
        "--max_epochs",
        str(epochs),
        "--val_interval",
        str(min(epochs, 10)),
        "--progress",
        "false",
    )
)
print(
    bundle_cli(
        "run",
        "--config_file",
        "['configs/common.json','configs/inference.json']",
        *common,
        "--bundle_root",
        str(work),
        "--dataset_dir",
        str(dataset),
        "--output_dir",
        str(out / "masks"),
        "--progress",
        "false",
    )
)
test_case = json.loads((dataset / "dataset.json").read_text())["test"][0]
name = Path(test_case).name.removesuffix(".nii.gz")
truth = np.asarray(nib.load(dataset / "labelsTs" / f"{name}.nii.gz").dataobj)
bundle_mask = np.asarray(nib.load(out / "masks" / f"{name}_seg.nii.gz").dataobj)
print("bundle inference Dice:", {k: round(dice(bundle_mask, truth, v), 3) for k, v in CT_LABELS.items() if v})
if args.quick:
    print(f"(--quick trains {epochs} epochs: Dice near 0 is what that gives; the full run trains 100)")

# %% [markdown]
# ## TorchScript export
# `ckpt_export` loads `model.pt` into `network_def` and writes a TorchScript file (with the
# bundle's metadata and configs inside) that runs without this package installed.

# %%
print(
    bundle_cli(
        "ckpt_export",
        "network_def",
        "--filepath",
        str(work / "models" / "model.ts"),
        "--ckpt_file",
        str(work / "models" / "model.pt"),
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        "['configs/common.json','configs/inference.json']",
    )
)
scripted = torch.jit.load(str(work / "models" / "model.ts"))
eager = UNet3D(1, 4, features=[8, 16, 32])
eager.load_state_dict(torch.load(work / "models" / "model.pt", weights_only=True))
eager.eval()
tile = torch.rand(1, 1, 76, 76, 48)
with torch.no_grad():
    difference = (scripted(tile) - eager(tile)).abs().max().item()
print(f"TorchScript vs eager on a 76x76x48 tile: output {tuple(eager(tile).shape)}, max |difference| {difference:.2e}")

# %% [markdown]
# ## A MONAI Label server with the app
# The studies folder holds the images; the labels the annotators submit go to `labels/final/`
# (here the training labels are put there from the start). The server copies the bundle into
# `model_dir` on its first start, and serves a model for inference once `models/model.pt` is
# there: we copy the weights trained above.
#
# MONAI Label imports `torchvision.utils` when it loads its bundle infer task. Where no
# torchvision build matches torch (the CPU machine this notebook was run on has none), the
# tests and `make notebooks` start the server with a stand-in for that module
# (`tests/label/standins`, printed below as the server's PYTHONPATH): imported, never called.


# %%
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call_ok(method: str, path: str, body: dict | None = None) -> bytes:
    status, answer = call(method, path, body)
    if status != 200:
        raise RuntimeError(f"{method} {path} answered {status}: {answer[:300]!r}; see {out / 'monailabel_server.log'}")
    return answer


label_python = Path(args.label_python)
if not label_python.is_file():
    raise SystemExit(f"MONAI Label's environment is not at {label_python}: run `make label-install`.")
shutil.rmtree(out / "studies", ignore_errors=True)
studies = studies_from_msd(dataset, out / "studies")
model_dir = out / "label_models"
shutil.rmtree(model_dir, ignore_errors=True)
port = free_port()
url = f"http://127.0.0.1:{port}"
log = open(out / "monailabel_server.log", "wb")  # noqa: SIM115 (open while the server runs)
server = subprocess.Popen(
    [
        str(label_python),
        "-m",
        "monailabel.main",
        "start_server",
        "--app",
        str(REPO / "apps" / "monai_unet2015"),
        "--studies",
        str(studies),
        "--conf",
        "models",
        "unet3d_ct_organs",
        "--conf",
        "model_dir",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ],
    stdout=log,
    stderr=subprocess.STDOUT,
)


def stop_server() -> int:
    """SIGTERM to the server's PID (also when this script ends early); its exit status."""
    if server.poll() is None:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(60)
    log.close()
    return server.returncode


atexit.register(stop_server)
print("server PID", server.pid, "at", url)
if os.environ.get("PYTHONPATH"):
    print("the server's PYTHONPATH:", os.environ["PYTHONPATH"])
for _ in range(180):
    if server.poll() is not None:
        raise SystemExit(f"the server stopped; see {out / 'monailabel_server.log'}")
    try:
        if call("GET", "/info/")[0] == 200:
            break
    except OSError:
        pass
    time.sleep(1)
info = json.loads(call_ok("GET", "/info/"))
print("models:", list(info["models"]), "trainers:", list(info["trainers"]))

# %% [markdown]
# ## Put the trained weights in, and ask for a segmentation (what 3D Slicer's "Run" does)

# %%
shutil.copy2(work / "models" / "model.pt", model_dir / "unet3d_ct_organs" / "models" / "model.pt")
info = json.loads(call_ok("GET", "/info/"))
print("models:", {k: v["labels"] for k, v in info["models"].items()})
(out / f"{name}_monailabel.nii.gz").write_bytes(call_ok("POST", f"/infer/unet3d_ct_organs?image={name}&output=image"))
served = nib.load(out / f"{name}_monailabel.nii.gz")
image = nib.load(studies / f"{name}.nii.gz")
print("mask", served.shape, served.get_data_dtype(), "on the image's grid:", np.allclose(served.affine, image.affine))
served_mask = np.asarray(served.dataobj)
print("same as the bundle's own inference:", np.array_equal(served_mask, bundle_mask))
status, body = call("POST", "/infer/unet3d_ct_organs?image=no_such_image")
print("an unknown image ->", status, json.loads(body)["detail"])

# %%
volume = np.asarray(image.dataobj)
rows = []
for z in (np.linspace(0.35, 0.65, 2) * volume.shape[2]).astype(int):
    rows.append((f"slice {z}, MONAI Label", *(np.rot90(v[:, :, z]) for v in (volume, truth, served_mask))))
figure = overlay_figure(rows, out / "monailabel.png")
display_figure(figure)

# %% [markdown]
# ## One round of retraining on the submitted labels (what "Train" does), then infer again
# Training runs in a background process; the server notices the new `model.pt` by its
# modification time and uses it for the next request.

# %%
before = json.loads(call_ok("GET", "/model/info/unet3d_ct_organs"))["checksum"]
body = call_ok("POST", "/train/unet3d_ct_organs", {"max_epochs": 1 if args.quick else 10, "val_split": 0.25})
task_id = json.loads(body)["id"]
while True:
    task = next(t for t in json.loads(call_ok("GET", "/train/?all=true")) if t["id"] == task_id)
    if task["status"] not in ("SUBMITTED", "RUNNING"):
        break
    time.sleep(2)
after = json.loads(call_ok("GET", "/model/info/unet3d_ct_organs"))["checksum"]
print("training:", task["status"], "| model.pt changed:", before != after)
(out / f"{name}_retrained.nii.gz").write_bytes(call_ok("POST", f"/infer/unet3d_ct_organs?image={name}&output=image"))
retrained = np.asarray(nib.load(out / f"{name}_retrained.nii.gz").dataobj)
before_after = [round(dice(mask, truth, 1), 3) for mask in (served_mask, retrained)]
print("liver Dice on the test image before / after the round:", *before_after)

# %% [markdown]
# ## Stop the server by its PID

# %%
print("server exit status", stop_server(), "(-15: ended by SIGTERM)")
print("figures in", out)
