"""``python -m monai_unet2015 dicom-node status --work-dir DIR``: every series the node knows, from its journal."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from monai_unet2015.dicom_node.journal import SeriesRecord

__all__ = ["series_status", "status_table", "status_json"]

_COLUMNS = (
    "uid",
    "state",
    "review",
    "revision",
    "instances",
    "attempts",
    "first_received",
    "last_received",
    "updated",
    "reason",
)


def series_status(work_dir: str | Path) -> list[dict]:
    """One dict per series in ``work_dir/journal`` (oldest first), read without changing anything.

    Raises:
        FileNotFoundError: ``work_dir`` holds no node journal.

    Example::

        >>> import tempfile
        >>> from monai_unet2015.dicom_node import SeriesJournal
        >>> folder = tempfile.mkdtemp()
        >>> _ = SeriesJournal(folder)
        >>> series_status(folder)
        []
    """
    journal = Path(work_dir) / "journal"
    if not journal.is_dir():
        raise FileNotFoundError(f"--work-dir {work_dir} holds no DICOM node journal (no journal/ folder).")
    names = {field.name for field in dataclasses.fields(SeriesRecord)}
    rows = []
    for path in sorted(journal.glob("*.json")):
        fields = json.loads(path.read_text())
        rows.append({key: fields.get(key) for key in names})
    return sorted(rows, key=lambda row: (row.get("first_received") or 0.0, row["uid"]))


def _one_line(value) -> str:
    """A cell's text on one line: a multi-line reason (a traceback's tail, a list of slices) is joined
    with " / ", so each series keeps one row."""
    return " / ".join(line.strip() for line in str(value or "").splitlines() if line.strip())


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def status_table(rows: list[dict]) -> str:
    """The rows as an aligned text table, one line per series, times in local time.

    Example::

        >>> print(status_table([{"uid": "1.2", "state": "kept", "reason": "A\\nB"}]))
        uid  state  review  revision  instances  attempts  first_received  last_received  updated  reason
        1.2  kept                                          -               -              -        A / B
        >>> print(status_table([{"uid": "1.3", "state": "sent", "review": ["edge"]}]))
        uid  state  review        revision  instances  attempts  first_received  last_received  updated  reason
        1.3  sent   needs review                                 -               -              -        edge
    """
    if not rows:
        return "no series"
    table = [list(_COLUMNS)]
    for row in rows:
        values = [_cell(row, column) for column in _COLUMNS]
        table.append(
            [
                _when(v) if c in ("first_received", "last_received", "updated") else _one_line(v)
                for c, v in zip(_COLUMNS, values)
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths)) + "  " + line[-1] for line in table
    ).rstrip()


def _cell(row: dict, column: str):
    """A row's value for a column: ``review`` shows "needs review", and its reasons join the reason column."""
    reasons = row.get("review") or []
    if column == "review":
        return "needs review" if reasons else ""
    if column == "reason" and reasons:
        return "; ".join(part for part in (row.get("reason") or "", *reasons) if part)
    return row.get(column)


def status_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2)
