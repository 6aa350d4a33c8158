"""The two layers: the core (a library) imports nothing of the shell (the product around it), and hides no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "monai_unet2015"
CORE = ("networks", "transforms", "losses", "inferers", "engines", "metrics", "data")
CORE_UTILITIES = ("devices", "distributed", "options", "paths")
SHELL = ("bundle", "planning", "dicom_node", "label", "__main__", "smoke")


def part_of(module: str) -> str:
    """``monai_unet2015.data.outputs`` -> ``data``."""
    return module.split(".")[1]


def imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported monai_unet2015 module, imported inside a function or class)`` for one source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(name, node.col_offset > 0) for name in names if name.startswith("monai_unet2015.")]
    return found


def sources(parts: tuple[str, ...]) -> list[Path]:
    files = []
    for part in parts:
        folder, module = PACKAGE / part, PACKAGE / f"{part}.py"
        files += sorted(folder.rglob("*.py")) if folder.is_dir() else [module]
    return files


def test_the_layers_cover_the_package():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert parts - {"__init__", "__pycache__"} == set(CORE + CORE_UTILITIES + SHELL)


@pytest.mark.parametrize("path", sources(CORE + CORE_UTILITIES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_imports_nothing_of_the_shell(path):
    shell = [name for name, _ in imports(path) if part_of(name) in SHELL]
    assert shell == [], f"{path.relative_to(PACKAGE)} imports the shell: {shell}"


@pytest.mark.parametrize("path", sources(CORE + CORE_UTILITIES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_hides_no_import_inside_a_function(path):
    """An import inside a function is how a package cycle hides (metrics <-> transforms was one)."""
    hidden = [name for name, inside in imports(path) if inside]
    assert hidden == [], f"{path.relative_to(PACKAGE)} imports inside a function: {hidden}"


def test_the_core_packages_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = {part: set() for part in CORE + CORE_UTILITIES}
    for part in graph:
        for path in sources((part,)):
            graph[part] |= {part_of(name) for name, _ in imports(path)} - {part}
    order, placed = [], set()
    while len(placed) < len(graph):
        ready = sorted(part for part in graph if part not in placed and graph[part] <= placed)
        assert ready, f"a cycle among {sorted(set(graph) - placed)}: { ({p: sorted(graph[p]) for p in graph}) }"
        order += ready
        placed |= set(ready)


def test_importing_the_core_loads_no_shell_module():
    code = (
        "import sys\n"
        + "".join(f"import monai_unet2015.{part}\n" for part in CORE + CORE_UTILITIES)
        + "print(sorted(m for m in sys.modules if m.startswith('monai_unet2015.')"
        + f" and m.split('.')[1] in {SHELL!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["plan.py", "fingerprint.py"])
def test_the_plan_rules_take_the_bundle_presets_as_input(module):
    """Only the planning glue (write.py, apply.py) knows where the bundles are."""
    bundle = [name for name, _ in imports(PACKAGE / "planning" / module) if part_of(name) == "bundle"]
    assert bundle == []
