#!/usr/bin/env bash
# MONAI Label 0.8.5 for the app in apps/monai_unet2015, in its own virtual environment
# (default .venv-label), without CUDA packages on a CPU machine.
#
# Why not `pip install monailabel==0.8.5`: its requirements pull the newest torch (with CUDA)
# and NumPy 1.26. Instead: torch pinned first (constraints.txt), then this project with the
# server's own dependencies (the `label` extra, which also holds pydicom at 2.4.x: monailabel's
# pydicom-seg imports pydicom._storage_sopclass_uids, gone in pydicom 3), then monailabel and
# pydicom-seg without their requirements. The main .venv keeps pydicom 3 (highdicom).
#
# torchvision: monailabel imports torchvision.utils when it loads its bundle infer task. The
# matching torchvision (0.28.0 for torch 2.13.0) is installed from PyPI for a CUDA torch, and
# from PyTorch's CPU index for a CPU torch; where neither works the script says so and ends
# with status 0 (training works; inference needs torchvision).
#
# Usage: scripts/install_monailabel.sh [VENV]      (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${1:-.venv-label}
TORCHVISION=torchvision==0.28.0

"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install --upgrade pip
"$PY" -m pip install -c constraints.txt torch
"$PY" -m pip install -c constraints.txt -e ".[label]"
"$PY" -m pip install --no-deps monailabel==0.8.5 pydicom-seg==0.4.1

if ! "$PY" -c "import torchvision.utils" 2>/dev/null; then
    if "$PY" -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
        "$PY" -m pip install --no-deps "$TORCHVISION" || true
    else
        "$PY" -m pip install --no-deps --retries 0 --timeout 10 \
            --index-url https://download.pytorch.org/whl/cpu "$TORCHVISION" || true
    fi
    # A CUDA build next to a CPU torch installs but does not import: take it out again.
    if ! "$PY" -c "import torchvision.utils" 2>/dev/null; then
        "$PY" -m pip uninstall -y torchvision >/dev/null 2>&1 || true
        echo "warning: no $TORCHVISION that works with torch" \
            "$("$PY" -c 'import torch; print(torch.__version__)') could be installed (PyPI's are CUDA" \
            "builds); MONAI Label's inference needs torchvision.utils: install a matching build into $VENV." >&2
    fi
fi
"$PY" -c "import monailabel, monai_unet2015; print('monailabel', monailabel.__version__, 'ready in $VENV')"
