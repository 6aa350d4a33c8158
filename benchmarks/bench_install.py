"""From a built wheel to a first mask, outside the checkout; the wheel's size; the docs build.

Builds the wheel, creates a fresh virtual environment in a temporary folder, installs
``torch==2.13.0`` and then the wheel from the package registry (pip's cache may serve files
already downloaded: the JSON says which pip was asked, not what crossed the network), runs
``python -m monai_unet2015 smoke`` there (both paper nets segment a generated sample: the
first masks) and times each step. Then times a fresh build of the docs site (as ``make docs``
builds it, into an empty folder).

    python benchmarks/bench_install.py          # writes benchmarks/results/install_cpu.json
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return round(time.perf_counter() - began, 1)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_install_"))
    try:
        wheel_seconds = timed([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work), str(REPO)], work)
        (wheel,) = work.glob("monai_unet2015-*.whl")
        venv_seconds = timed([sys.executable, "-m", "venv", str(work / "venv")], work)
        pip = [str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt")]
        torch_seconds = timed([*pip, "torch==2.13.0"], work)
        package_seconds = timed([*pip, str(wheel)], work)
        smoke = [str(work / "venv" / "bin" / "python"), "-m", "monai_unet2015", "smoke", "--output-dir", "out"]
        smoke_seconds = timed(smoke, work)
        masks = sorted(p.name for p in (work / "out").rglob("*_mask.nii.gz"))
        sphinx = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(work / "html")]
        docs_seconds = timed(sphinx, REPO)  # a fresh build: no cache from an earlier one
        results = {
            "wheel": {"file": wheel.name, "bytes": wheel.stat().st_size, "build_seconds": wheel_seconds},
            "fresh_venv_seconds": {
                "create": venv_seconds,
                "pip_install_torch": torch_seconds,
                "pip_install_wheel_with_dependencies": package_seconds,
                "smoke_first_masks": smoke_seconds,
                "install_to_first_mask": round(torch_seconds + package_seconds + smoke_seconds, 1),
            },
            "first_masks": masks,
            "docs_build_seconds": docs_seconds,
        }
        print(write_results("install_cpu", results))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
