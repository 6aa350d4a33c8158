"""A plan written into a bundle's working copy, for runners that take no ``--args_file`` (MONAI Label)."""

from __future__ import annotations

import json
from pathlib import Path

from monai_unet2015.data.bundle_configs import COMMON_CONFIG
from monai_unet2015.planning.write import read_plan_record

__all__ = ["apply_plan", "PLANNED_CONFIGS"]

#: The configs of a working copy that a plan changes.
PLANNED_CONFIGS = (COMMON_CONFIG, "train.json", "inference.json")


def apply_plan(bundle_dir: str | Path, plan_file: str | Path) -> dict[str, list[str]]:
    """Write the plan's preset and options into ``bundle_dir``'s configs; returns the keys set per file.

    The preset (``configs/<preset>.json``, named in the plan's fingerprint file) comes first,
    then the plan's options, as ``--config_file "['configs/train.json','configs/cpu.json']"
    --args_file plan.json`` would merge them. A key is set in a config only where that config
    has it (``features`` in ``common.json``, ``max_epochs`` in ``train.json``); ``#``
    in a key descends into a nested entry. Meant for a working copy: MONAI Label's app copies
    the bundle first (:func:`~monai_unet2015.label.install_bundle`).

    Raises:
        FileNotFoundError: no plan file or fingerprint file beside it.
        ValueError: the plan was made for data of other dimensions than the bundle's.
    """
    bundle_dir, plan_file = Path(bundle_dir), Path(plan_file)
    record = read_plan_record(plan_file)
    dims = json.loads((bundle_dir / "configs" / "train.json").read_text())["check_cases"]["spatial_dims"]
    if record["fingerprint"]["spatial_dims"] != dims:
        raise ValueError(
            f"plan {plan_file} is for {record['fingerprint']['spatial_dims']}D data ({record['bundle']}), "
            f"but the bundle {bundle_dir} is {dims}D."
        )
    preset = json.loads((bundle_dir / "configs" / f"{record['preset']}.json").read_text())
    settings = {**preset, **json.loads(plan_file.read_text())}
    changed = {}
    for name in PLANNED_CONFIGS:
        path = bundle_dir / "configs" / name
        if not path.is_file():  # a bundle folder from before common.json: its settings are in the others
            continue
        config = json.loads(path.read_text())
        changed[name] = [key for key, value in settings.items() if _set(config, key, value)]
        path.write_text(json.dumps(config, indent=4) + "\n")
    return changed


def _set(config: dict, key: str, value) -> bool:
    *parents, last = key.split("#")
    node = config
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        return False
    node[last] = value
    return True
