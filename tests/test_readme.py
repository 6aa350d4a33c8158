"""The README's Python example runs as it is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_python_example_runs(tmp_path):
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(example + "\nassert tuple(logits.shape) == (1, 2, 388, 300), logits.shape\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(388, 388)" in result.stdout


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 250
