"""Small functions: none in the shell, the engines or the inferers has more than 60 lines of code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "monai_unet2015"
CHECKED = ("bundle", "planning", "dicom_node", "label", "engines", "inferers", "__main__.py", "smoke.py")
MAX_LINES = 60


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end."""
    body = function.body
    has_docstring = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
    first = body[1] if has_docstring and len(body) > 1 else body[0]
    return function.end_lineno - first.lineno + 1


def functions() -> list[tuple[str, int]]:
    found = []
    for part in CHECKED:
        path = PACKAGE / part
        for source in [path] if path.suffix == ".py" else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.append((f"{source.relative_to(PACKAGE)}:{node.lineno} {node.name}", code_lines(node)))
    return found


def test_the_checked_parts_have_functions():
    assert len(functions()) > 100


@pytest.mark.parametrize("name, lines", [f for f in functions() if f[1] > MAX_LINES // 2], ids=lambda v: str(v))
def test_no_function_is_longer_than_60_lines_of_code(name, lines):
    assert lines <= MAX_LINES, f"{name} has {lines} lines of code; split it"
