"""What a bundle run checks first, and how it says what is wrong: one line, with what to do.

Errors raised while MONAI resolves a config come out wrapped in several layers of
"Failed to instantiate ..." with the whole config component printed. The checks here
raise :class:`BundleInputError`, a ``SystemExit``: MONAI's resolver, Ignite and the thread
pools pass it through untouched, and Python prints only its message and exits with 1.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.data import partition_dataset

from monai_unet2015.data.datalists import (
    IMAGE_SUFFIXES,
    add_output_names,
    dicom_series_datalist,
    msd_datalist,
    nifti_folder_datalist,
)
from monai_unet2015.data.presets import dicom_modality
from monai_unet2015.engines.checkpoints import describe_state_mismatch

__all__ = [
    "BundleInputError",
    "load_datalist",
    "split_datalist",
    "CheckInputChannels",
    "channel_mismatch",
    "LoadNetworkWeights",
]

logger = logging.getLogger(__name__)


class BundleInputError(SystemExit):
    """A problem with the user's input to a bundle run; printed as one line, exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(f"error: {message}")
        self.message = message


def load_datalist(
    dataset_dir: str | Path,
    section: str = "training",
    with_labels: bool = True,
    modality: str | None = None,
    exclude: Sequence[str | Path] = (),
) -> list[dict]:
    """The datalist of ``dataset_dir``, whatever its layout; :class:`BundleInputError` if unusable.

    Layouts, tried in this order: an MSD folder (``dataset.json``; ``section`` selects
    ``"training"`` or ``"test"``); ``imagesTs/`` for ``section="test"`` without labels; a
    folder with ``imagesTr``/``labelsTr`` (or ``images``/``labels``) NIfTI, PNG or TIFF files
    paired by name; a folder of NIfTI, PNG or TIFF files (images only); a folder of DICOM
    series (images only; labels in ``<dataset_dir>_labels`` if present).

    DICOM: only image series of ``modality`` (``"ct"``, ``"mri"``; None for any) are read,
    others are skipped with a warning, and a folder without any is an error; DICOM SEG, RTSTRUCT, SR, PR
    and this project's own outputs are skipped, and so is everything under ``exclude`` (the
    output folder, when it lies inside ``dataset_dir``). Folders mixing several series are
    split into folders of links in a temporary folder, removed at exit.

    Each entry gets a ``"name"`` unique to its input (its path relative to the folder of all
    inputs, :func:`~monai_unet2015.data.add_output_names`); two inputs with one name are an
    error before any work.
    """
    root = Path(str(dataset_dir))
    if not root.is_dir():
        raise BundleInputError(
            f"dataset_dir {root} does not exist. Pass --dataset_dir with a folder of NIfTI files, DICOM series "
            "or an MSD dataset (python -m monai_unet2015 sample-data OUT writes one)."
        )
    if not any(root.iterdir()):
        raise BundleInputError(f"dataset_dir {root} is empty. Put NIfTI files, DICOM series or an MSD dataset there.")
    try:
        datalist = _datalist_of(root, section, with_labels, modality, exclude)
        add_output_names(datalist)
    except (FileNotFoundError, ValueError) as error:
        raise BundleInputError(f"dataset_dir {root}: {error}") from None
    if not datalist:
        raise BundleInputError(f"dataset_dir {root} has no {section!r} cases.")
    return datalist


def _series_link_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="monai_unet2015_series_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _datalist_of(
    root: Path, section: str, with_labels: bool, modality: str | None, exclude: Sequence[str | Path]
) -> list[dict]:
    if (root / "dataset.json").is_file():
        datalist = msd_datalist(root, section)
        return datalist if with_labels else [{"image": item["image"]} for item in datalist]
    if section == "test" and not with_labels and (root / "imagesTs").is_dir():
        return nifti_folder_datalist(root / "imagesTs")
    for images, labels in (("imagesTr", "labelsTr"), ("images", "labels")):
        if (root / images).is_dir():
            if with_labels:
                return nifti_folder_datalist(root / images, root / labels)
            return nifti_folder_datalist(root / images)
    if any(p.name.lower().endswith(IMAGE_SUFFIXES) for p in root.iterdir()):
        if with_labels:
            raise FileNotFoundError("training needs labels: use imagesTr/ and labelsTr/ (or an MSD dataset.json).")
        return nifti_folder_datalist(root)
    labels = root.parent / f"{root.name}_labels"
    has_dicom_files = any(p.is_file() for p in root.rglob("*"))
    if not has_dicom_files:
        raise FileNotFoundError(
            "holds no files: put NIfTI, PNG or TIFF files, DICOM series or an MSD dataset (dataset.json) there."
        )
    return dicom_series_datalist(
        root,
        labels_dir=labels if with_labels and labels.is_dir() else None,
        link_dir=_series_link_dir(),
        modality=dicom_modality(modality) if modality else None,
        exclude=exclude,
    )


def split_datalist(datalist: Sequence[dict], val_fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """``(training, validation)``: at least one case in each; a single case serves as both."""
    if not 0 < val_fraction < 1:
        raise BundleInputError(f"val_fraction must be between 0 and 1, got {val_fraction}.")
    if len(datalist) < 2:
        logger.warning("only %d case: it is used for training and for validation", len(datalist))
        return list(datalist), list(datalist)
    num_val = max(1, round(len(datalist) * val_fraction))
    shuffled = partition_dataset(list(datalist), num_partitions=1, shuffle=True, seed=seed)[0]
    return shuffled[num_val:], shuffled[:num_val]


def channel_mismatch(channels: int, in_channels: int) -> str:
    """What to say when an image has ``channels`` channels and the network takes ``in_channels``."""
    return (
        f"has {channels} channel(s) but the network takes {in_channels}: set --in_channels {channels}, or select "
        "the channel(s) the network was trained on."
    )


class CheckInputChannels:
    """Stop at the first batch whose images have another channel count than the network takes.

    Args:
        in_channels: the network's input channels.
        image_key: the image key of the batch.
    """

    def __init__(self, in_channels: int, image_key: str = "image") -> None:
        self.in_channels, self.image_key = int(in_channels), image_key
        self.checked = False

    def attach(self, engine: Engine) -> None:
        # Not ``ITERATION_STARTED(once=1)``: a resumed run starts at a later iteration.
        engine.add_event_handler(Events.ITERATION_STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if self.checked:
            return
        self.checked = True
        batch = engine.state.batch
        image = batch[self.image_key] if isinstance(batch, dict) else batch[0]
        channels = image.shape[1]
        if channels != self.in_channels:
            source = getattr(image, "meta", {}).get("filename_or_obj")
            source = source[0] if isinstance(source, (list, tuple)) and source else source
            name = f" ({source})" if source else ""
            raise BundleInputError(f"the images{name} {channel_mismatch(channels, self.in_channels)}")


class LoadNetworkWeights:
    """Load ``model.pt`` into the network at ``STARTED``; a misfit is a one-line error.

    Accepts a plain state dict (the model-zoo ``models/model.pt``) or a checkpoint dict with
    the weights under ``key``.

    Args:
        load_path: the checkpoint file.
        network: the network to fill.
        key: the entry holding the weights in a checkpoint dict.
        map_location: as in ``torch.load``.
    """

    def __init__(self, load_path: str | Path, network: torch.nn.Module, key: str = "model", map_location=None) -> None:
        self.load_path, self.network, self.key, self.map_location = Path(str(load_path)), network, key, map_location

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine | None = None) -> None:
        if not self.load_path.is_file():
            raise BundleInputError(
                f"checkpoint {self.load_path} does not exist: train first (configs/train.json), or pass "
                "--ckpt_dir with the folder that holds model.pt."
            )
        state = torch.load(self.load_path, map_location=self.map_location, weights_only=True)
        if isinstance(state, dict) and self.key in state and isinstance(state[self.key], dict):
            state = state[self.key]
        mismatch = describe_state_mismatch(self.network, state)
        if mismatch:
            raise BundleInputError(
                f"checkpoint {self.load_path} does not fit the network ({mismatch}): use the network_def it was "
                "trained with, or retrain."
            )
        self.network.load_state_dict(state)
        logger.info("weights loaded from %s", self.load_path)
