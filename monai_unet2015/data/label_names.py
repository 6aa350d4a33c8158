"""Class ids and the names (with aliases) under which DICOM labels carry them: RTSTRUCT ROIs, SEG segments."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ClassNameMap"]

logger = logging.getLogger(__name__)


def _key(name: str) -> str:
    return " ".join(str(name).split()).casefold()


class ClassNameMap:
    """Which class id each named structure of a DICOM label is: ``{1: ["liver", "Liver", "liver_1"], ...}``.

    Hospitals name the same organ differently from one planning system (or one dosimetrist)
    to the next, so each class takes a list of aliases. Names compare without regard to case
    and to runs of spaces (``"Liver "`` is ``"LIVER"``); anything else must be listed.
    Class 0 is the background and takes no names.

    Args:
        labels: ``{class id: name or [names]}`` (the MSD / DESIGN form, ids as ints or
            digit strings) or ``{name: class id}`` (nnU-Net v2's ``dataset.json`` form).
            Entries for class 0 are the background's name and are not matched.

    Raises:
        ValueError: no class, a negative id, an empty name, or one name given to two classes.
        TypeError: ``labels`` is not a mapping.

    Example::

        >>> names = ClassNameMap({"0": "background", "1": ["liver", "Liver_1"], "2": "spleen"})
        >>> names.match(["BODY", "LIVER", "Spleen"], "rtss.dcm")
        {1: 'LIVER', 2: 'Spleen'}
    """

    def __init__(self, labels: Mapping) -> None:
        if not isinstance(labels, Mapping):
            raise TypeError(f"labels must map class ids to names, got {type(labels).__name__}.")
        self.aliases: dict[int, tuple[str, ...]] = {}
        for key, value in labels.items():
            class_id, names = self._entry(key, value)
            if class_id == 0:
                continue
            self.aliases.setdefault(class_id, ())
            self.aliases[class_id] += names
        if not self.aliases:
            raise ValueError(f"labels names no class besides the background: {dict(labels)!r}.")
        self._by_name: dict[str, int] = {}
        for class_id, names in sorted(self.aliases.items()):
            for name in names:
                other = self._by_name.setdefault(_key(name), class_id)
                if other != class_id:
                    raise ValueError(f"labels gives the name {name!r} to class {other} and to class {class_id}.")

    @staticmethod
    def _entry(key, value) -> tuple[int, tuple[str, ...]]:
        if isinstance(value, int) and not isinstance(value, bool):  # nnU-Net v2: {"liver": 1}
            key, value = value, key
        try:
            class_id = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"labels: {key!r} is not a class id (an integer) nor a name with an id.") from None
        if class_id < 0:
            raise ValueError(f"labels: class id {class_id} is negative.")
        names = (value,) if isinstance(value, str) else tuple(value)
        if not names or any(not isinstance(n, str) or not n.strip() for n in names):
            raise ValueError(f"labels: class {class_id} needs one or more non-empty names, got {value!r}.")
        return class_id, names

    @classmethod
    def from_dataset_json(cls, path: str | os.PathLike) -> ClassNameMap:
        """The ``"labels"`` entry of a ``dataset.json``; ``ValueError`` naming the file if it has none."""
        path = Path(path)
        try:
            labels = json.loads(path.read_text())["labels"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f'{path} must hold a "labels" entry mapping class ids to the ROI / segment names of the DICOM '
                f'labels, e.g. {{"labels": {{"1": ["liver", "Liver"]}}}} ({type(error).__name__}: {error}).'
            ) from None
        try:
            return cls(labels)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None

    @property
    def num_classes(self) -> int:
        """The largest class id + 1 (the background included)."""
        return max(self.aliases) + 1

    def class_of(self, name: str) -> int | None:
        """The class id that ``name`` is an alias of, or None."""
        return self._by_name.get(_key(name))

    def match(self, found: Sequence[str], source: str | os.PathLike) -> dict[int, str]:
        """``{class id: the name in found}`` for every class; names of no class are left out.

        Args:
            found: the names of the structures in one label file (ROI or segment names).
            source: that file, for the messages.

        Raises:
            ValueError: one line naming ``source`` and listing the names found, where a class
                has no structure (missing) or several (ambiguous).
        """
        matched: dict[int, list[str]] = {}
        for name in found:
            class_id = self.class_of(name)
            if class_id is not None:
                matched.setdefault(class_id, []).append(name)
        missing = [class_id for class_id in sorted(self.aliases) if class_id not in matched]
        ambiguous = {class_id: names for class_id, names in matched.items() if len(names) > 1}
        if missing or ambiguous:
            problems = [f"class {c} ({'/'.join(self.aliases[c])}) matches no name" for c in missing]
            problems += [f"class {c} matches several: {names}" for c, names in sorted(ambiguous.items())]
            raise ValueError(
                f"{source}: {'; '.join(problems)}. Names found: {list(found)}. List each class's names in "
                'dataset.json\'s "labels" (e.g. {"1": ["liver", "Liver_1"]}).'
            )
        ignored = [name for name in found if self.class_of(name) is None]
        if ignored:
            logger.info("%s: structures of no class, left out: %s", source, ignored)
        return {class_id: names[0] for class_id, names in sorted(matched.items())}
