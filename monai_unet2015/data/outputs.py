"""Write predictions where clinicians look: NIfTI on the input's grid, DICOM SEG for DICOM input."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import Activationsd, AsDiscreted, SaveImage
from monai.transforms.transform import MapTransform, Transform
from monai.utils import optional_import
from monai.utils.enums import TransformBackends

from monai_unet2015 import __version__
from monai_unet2015.data.datalists import strip_image_suffix
from monai_unet2015.data.review import REVIEW_KEY
from monai_unet2015.transforms.source_grid import LabelsToSourceGridd

hd, has_highdicom = optional_import("highdicom")

#: the model a SEG names where the caller gives none (the bundles give their metadata's name and version)
DEFAULT_MODEL_NAME = "monai_unet2015 U-Net"
NOT_FOR_DIAGNOSTIC_USE = "not for diagnostic use"

__all__ = [
    "inference_postprocessing",
    "write_dicom_seg",
    "read_series",
    "slice_label_frame",
    "check_label_map",
    "SaveMaskd",
    "SaveDicomSegd",
    "SaveDicomObjectd",
    "LabelledOutputd",
    "has_highdicom",
    "atomic_output",
    "output_name",
]

logger = logging.getLogger(__name__)
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def inference_postprocessing(
    output_dir: str | Path,
    pred_key: str = "pred",
    image_key: str = "image",
    output_postfix: str = "seg",
    sigmoid: bool = False,
    output_ext: str = ".nii.gz",
    invert: bool = True,
    overwrite: bool = False,
    scores: bool = True,
) -> list[Transform]:
    """Class map of the logits, back on the input's original grid, saved as NIfTI (uint8).

    ``Activationsd`` (soft-max, or sigmoid for one channel) and ``AsDiscreted`` (argmax /
    0.5) make a label map (``scores=False``: ``pred`` is one already, as
    ``OverlapTileInferer(argmax=True)`` gives it, and these two steps are left out);
    :class:`~monai_unet2015.transforms.LabelsToSourceGridd` puts it back on the grid of the
    file it came from (nearest neighbour, in bounded memory, where MONAI's ``Invertd`` would
    need gigabytes for a full-size CT); and
    :class:`SaveMaskd` writes ``<output_dir>/<name>_<output_postfix><output_ext>`` with that
    affine (``output_ext=".png"`` for 2D images: labels scaled to 0 / 255 for a binary
    mask), atomically and never over an existing file unless ``overwrite``. For a DICOM
    series the affine is the series' geometry, so the NIfTI overlays the series in any
    viewer; :class:`SaveDicomSegd` writes the DICOM SEG as well. ``invert=False`` leaves the
    label map on the preprocessed grid, for preprocessing without spatial transforms.
    """
    activation = {"sigmoid": True} if sigmoid else {"softmax": True}
    discrete = {"threshold": 0.5} if sigmoid else {"argmax": True}
    inverse = [LabelsToSourceGridd(pred_key, image_key=image_key)]
    to_labels = [Activationsd(pred_key, **activation), AsDiscreted(pred_key, **discrete)]
    return [
        *(to_labels if scores else []),
        *(inverse if invert else []),
        SaveMaskd(pred_key, output_dir, output_postfix=output_postfix, output_ext=output_ext, overwrite=overwrite),
    ]


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _partial_name(path: Path) -> Path:
    """``.<name>.partial-<pid><ext>`` beside ``path``, its stem shortened (and told apart by a hash)
    where the whole would pass the file system's name limit; ``ValueError`` if ``path``'s own name does."""
    limit = _name_max(path.parent)
    if len(path.name.encode()) > limit:
        raise ValueError(
            f"output {path}: its name is {len(path.name.encode())} bytes, the file system takes {limit}: "
            "shorten the input's name (outputs are named after it)."
        )
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    stem, tail = path.name[: len(path.name) - len(suffix)], f".partial-{os.getpid()}{suffix}"
    name = f".{stem}{tail}"
    if len(name.encode()) > limit:
        digest = hashlib.sha1(stem.encode()).hexdigest()[:12]
        room = limit - len(f".-{digest}{tail}".encode())
        short = stem.encode()[:room].decode(errors="ignore")  # never half a UTF-8 character
        name = f".{short}-{digest}{tail}"
    return path.with_name(name)


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Write a file under a temporary name beside ``path`` and rename it to ``path`` at the end.

    A run killed while writing leaves no half-written ``path`` (at most a hidden
    ``.<name>.partial-<pid>`` file, which no reader mistakes for an output); an error inside
    the block removes the temporary file. The temporary name keeps ``path``'s extensions, so
    writers that choose the format by extension write the right one.

    Args:
        path: the final file.
        overwrite: replace an existing ``path``; otherwise ``FileExistsError``.

    Example::

        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "mask.txt"
        >>> with atomic_output(target) as partial:
        ...     _ = partial.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_name(path)  # first: a name over the limit is an OSError even for exists()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists: pass overwrite=True (bundles: --overwrite true) to replace it.")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def output_name(data: Mapping[Hashable, object], key: Hashable, name_key: str = "name") -> str:
    """The name of a sample's outputs: ``data[name_key]`` (see
    :func:`~monai_unet2015.data.add_output_names`), else the input file or folder name of
    ``data[key]`` without extension."""
    if data.get(name_key):
        return str(data[name_key])
    value = data[key]
    source = value.meta.get("filename_or_obj") if isinstance(value, MetaTensor) else None
    if not source:
        raise ValueError(f"no output name for key {key!r}: give the sample a {name_key!r} entry.")
    return strip_image_suffix(Path(str(source)).name)


class SaveMaskd(MapTransform):
    """Save a label map as ``<output_dir>/<name>_<output_postfix><output_ext>``, atomically.

    The name comes from the sample's ``name_key`` entry, which
    :func:`~monai_unet2015.data.add_output_names` makes unique per input (``patA/CT``), else
    from the input file name. MONAI's writers write the file (NIfTI with the label map's
    affine, or PNG / TIFF scaled to 0 / 255 for a binary map), first under a temporary name
    (:func:`atomic_output`). An existing file is an error unless ``overwrite``: a corrected
    mask is never replaced by accident.

    Args:
        keys: the label-map key(s), ``(1, H, W[, D])`` with integer values.
        output_dir: the folder; sub-folders of the name are created.
        output_postfix: appended to the name.
        output_ext: ``".nii.gz"``, ``".nii"``, ``".png"``, ``".tif"``.
        name_key: the sample's entry holding the output name.
        overwrite: replace existing files.
        instances: an instance label map (ids 0..65535): written as 16-bit values, not scaled
            (PNG / TIFF); a semantic map is written as 8 bits (0 / 255 in PNG / TIFF).

    Example::

        >>> import tempfile, torch
        >>> from monai.data import MetaTensor
        >>> out = tempfile.mkdtemp()
        >>> saver = SaveMaskd("pred", out)
        >>> _ = saver({"pred": MetaTensor(torch.zeros(1, 4, 4, 4)), "name": "patA/CT"})
        >>> saver.planned_outputs({"name": "patA/CT"})[0].relative_to(out).as_posix()
        'patA/CT_seg.nii.gz'
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | Path,
        output_postfix: str = "seg",
        output_ext: str = ".nii.gz",
        name_key: str = "name",
        overwrite: bool = False,
        instances: bool = False,
    ) -> None:
        super().__init__(keys)
        if output_ext not in (".nii.gz", ".nii", ".png", ".tif", ".tiff"):
            raise ValueError(f"output_ext must be .nii.gz, .nii, .png, .tif or .tiff, got {output_ext!r}.")
        self.output_dir, self.output_postfix, self.output_ext = Path(output_dir), output_postfix, output_ext
        self.name_key, self.overwrite = name_key, bool(overwrite)
        scale = 255 if output_ext in (".png", ".tif", ".tiff") and not instances else None
        self.writer = SaveImage(
            output_ext=output_ext,
            output_dtype=np.uint16 if instances else np.uint8,
            resample=False,
            scale=scale,
            print_log=False,
        )

    def output_path(self, data: Mapping[Hashable, object], key: Hashable) -> Path:
        return self.output_dir / f"{output_name(data, key, self.name_key)}_{self.output_postfix}{self.output_ext}"

    def planned_outputs(self, data: Mapping[Hashable, object]) -> list[Path]:
        """The files this transform will write for a sample (before it is loaded: needs its name)."""
        return [self.output_path(data, key) for key in self.keys]

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            path = self.output_path(d, key)
            with atomic_output(path, self.overwrite) as partial:
                stem = str(partial)[: -len(self.output_ext)]
                self.writer(d[key], filename=stem)
            logger.info("mask written: %s", path)
        return d


def _frame_indices(ds: pydicom.Dataset, affine: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Voxel indices (x, y, z) of every pixel (row, column) of the DICOM slice ``ds``."""
    position = _RAS_TO_LPS @ np.asarray(ds.ImagePositionPatient, dtype=float)
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    along_row = _RAS_TO_LPS @ orientation[:3] * column_spacing  # one column to the right
    down_column = _RAS_TO_LPS @ orientation[3:] * row_spacing  # one row down
    to_voxel = np.linalg.inv(affine)
    origin = (to_voxel @ np.append(position, 1.0))[:3]
    step_column, step_row = to_voxel[:3, :3] @ along_row, to_voxel[:3, :3] @ down_column
    rows, columns = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
    voxel = origin[:, None, None] + step_column[:, None, None] * columns + step_row[:, None, None] * rows
    nearest = np.round(voxel)
    if (
        np.abs(voxel - nearest).max() > 1e-2
        or nearest.min() < 0
        or np.any(nearest.max(axis=(1, 2)) >= np.asarray(shape))
    ):
        raise ValueError(
            f"the mask's grid does not contain the pixels of DICOM slice {getattr(ds, 'SOPInstanceUID', '?')}: "
            "save the mask on the series' own grid (invert the preprocessing first)."
        )
    return tuple(nearest.astype(np.int64))


def _whole_numbers(mask: np.ndarray) -> np.ndarray:
    """A float label map in the smallest integer type holding its values; ``ValueError`` for fractions or NaN."""
    low, high = (float(mask.min()), float(mask.max())) if mask.size else (0.0, 0.0)
    if np.isfinite(low) and np.isfinite(high):
        whole = mask.astype(np.result_type(np.min_scalar_type(int(low)), np.min_scalar_type(int(high))))
        if np.array_equal(mask, whole):  # compared without a second float copy of the map
            return whole
    raise ValueError("mask must hold integer label values, got fractions or NaN (discretise the prediction first).")


def check_label_map(mask: np.ndarray, labels: Mapping[int, str] | None = None) -> np.ndarray:
    """``mask`` as an integer ``(x, y, z)`` label map, or ``ValueError`` naming what is wrong with it.

    Float masks must hold whole numbers (a discretised prediction); they come back in the
    smallest integer type that holds their values (``uint8`` for up to 255 classes: a full-size
    CT's label map is then 78 MB, not 626 MB as ``int64``). With ``labels``, every value but 0
    must be one of its keys.

    Example::

        >>> check_label_map(np.ones((2, 2, 2), np.float32), {1: "liver"}).dtype
        dtype('uint8')
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (x, y, z), got shape {mask.shape}.")
    if mask.dtype.kind == "f":
        mask = _whole_numbers(mask)
    if labels is not None:
        unknown = sorted(set(np.unique(mask).tolist()) - {0, *labels})
        if unknown:
            raise ValueError(f"mask holds values {unknown} that labels {dict(labels)} does not name.")
    return mask


def slice_label_frame(mask: np.ndarray, affine: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """The labels of DICOM slice ``ds``'s pixels ``(rows, columns)``, looked up in ``mask`` (x, y, z; RAS ``affine``).

    ``ValueError`` where the mask's grid does not hold the slice's pixels (a mask that was not
    put back on the series' grid): never a shifted frame.
    """
    return mask[_frame_indices(ds, np.asarray(affine, dtype=float), mask.shape)]


def _segment_description(number: int, name: str):
    from pydicom.sr.codedict import codes

    property_type = getattr(codes.SCT, re.sub(r"[^A-Za-z]", "", name.title()), None) or codes.SCT.Tissue
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=property_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="monai_unet2015 U-Net", version=__version__, family=codes.cid7162.ArtificialIntelligence
        ),
    )


def _series_description(model_name: str, model_version: str) -> str:
    """``"<model> <version> (not for diagnostic use)"`` within DICOM's 64 characters: the model's name is cut first."""
    tail = f" {model_version} ({NOT_FOR_DIAGNOSTIC_USE})"
    return f"{model_name[: max(0, 64 - len(tail))]}{tail}"[:64]


def _blank_invalid_dates(ds: pydicom.Dataset, path: Path) -> None:
    """Empty every top-level date (VR DA) that is not YYYYMMDD: highdicom copies them into the SEG and fails on them."""
    for element in ds:
        if element.VR != "DA" or element.VM != 1 or not element.value:
            continue
        text = str(element.value)
        try:
            valid = len(text) == 8 and text.isdigit() and bool(datetime.strptime(text, "%Y%m%d"))
        except ValueError:
            valid = False
        if not valid:
            logger.warning("%s: its %s is not a DICOM date (YYYYMMDD); left out of the SEG", path, element.keyword)
            element.value = ""


def read_series(folder: str | Path) -> list[pydicom.Dataset]:
    """The image files of a DICOM series folder, as datasets (unsorted order is fine for SEG).

    Hidden files are skipped (an interrupted copy's partial files); dates that are not DICOM
    dates (a malformed PatientBirthDate) are emptied in memory, with a warning.
    """
    datasets = []
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        if "PixelData" in ds:
            _blank_invalid_dates(ds, path)
            datasets.append(ds)
    if not datasets:
        raise FileNotFoundError(f"{folder} holds no DICOM image files.")
    return datasets


def write_dicom_seg(
    mask: np.ndarray,
    affine: np.ndarray,
    source_folder: str | Path,
    out_path: str | Path,
    labels: Mapping[int, str],
    overwrite: bool = False,
    model_name: str = DEFAULT_MODEL_NAME,
    model_version: str = __version__,
) -> Path:
    """Write the label map ``mask`` (x, y, z; RAS ``affine``) as a DICOM SEG of the series.

    Each frame of the SEG belongs to one source slice: its pixels are looked up in
    ``mask`` through the slice's ImagePositionPatient / ImageOrientationPatient /
    PixelSpacing and the mask's affine, so any orientation works, and a mask that is not on
    the series' grid is an error rather than a shifted overlay. One segment per entry of
    ``labels`` (``{1: "liver", ...}``); names that are SNOMED concepts in pydicom's
    dictionary (Liver, Spleen, Kidney...) get that code, others "Tissue". Needs the
    optional ``highdicom`` package (``pip install monai_unet2015[dicom]``). The file is
    written atomically (:func:`atomic_output`) and an existing ``out_path`` is an error
    unless ``overwrite``. The SEG names the model: Manufacturer Model Name ``model_name``,
    Software Versions the package's and ``model_version``, Series Description both and "not
    for diagnostic use" (each cut to DICOM's 64 characters).
    """
    if not has_highdicom:
        raise ImportError("writing DICOM SEG needs highdicom: pip install 'monai_unet2015[dicom]'.")
    mask = check_label_map(mask, labels)
    sources = read_series(source_folder)
    frames = np.stack([slice_label_frame(mask, affine, ds) for ds in sources])
    segment_numbers = {value: number for number, value in enumerate(sorted(labels), start=1)}
    lookup = np.zeros(max(labels, default=0) + 1, np.uint8)
    for value, number in segment_numbers.items():
        lookup[value] = number
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=lookup[frames],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(n, labels[v]) for v, n in segment_numbers.items()],
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="monai_unet2015",
        manufacturer_model_name=model_name[:64],
        software_versions=[__version__, str(model_version)[:64]],
        device_serial_number="0",
        omit_empty_frames=False,
        series_description=_series_description(model_name, model_version),
    )
    out_path = Path(out_path)
    with atomic_output(out_path, overwrite) as partial:
        seg.save_as(partial)
    return out_path


class LabelledOutputd(MapTransform):
    """Base of the transforms that write a file per sample from a label map and the structures' names.

    Args:
        keys: the label-map key(s), ``(1, x, y, z)`` MetaTensors.
        output_dir: where the files go.
        labels: ``{value: name}`` of the structures (values > 0).
        name_key: the sample's entry holding the output name.
        overwrite: replace existing files.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | Path,
        labels: Mapping[int, str],
        name_key: str = "name",
        overwrite: bool = False,
    ) -> None:
        super().__init__(keys)
        if not labels or any(int(k) <= 0 for k in labels):
            raise ValueError(f"labels must map values > 0 to names, got {labels!r}.")
        self.output_dir = Path(output_dir)
        self.labels = {int(k): str(v) for k, v in labels.items()}
        self.name_key, self.overwrite = name_key, bool(overwrite)


class SaveDicomObjectd(LabelledOutputd):
    """Base of the transforms that save a label map from a DICOM series as a DICOM object next to the NIfTI.

    The source series is the folder in the label map's ``filename_or_obj`` meta entry
    (MONAI's DICOM readers put the series folder there); samples that did not come from a
    DICOM folder are passed through untouched. The file is ``<output_dir>/<name><suffix>``,
    named like :class:`SaveMaskd`'s, written atomically by :meth:`write`, never over an
    existing file unless ``overwrite``. Subclasses set ``suffix``, ``kind`` (the object's name in
    messages), ``option`` (the bundle setting that asks for it) and :meth:`write`, which gets
    the review :class:`~monai_unet2015.data.SaveStructureReportd` left in the label map's
    ``meta["review"]`` (None where it did not run).

    Args:
        keys: the label-map key(s), ``(1, x, y, z)`` MetaTensors.
        output_dir: where the files go.
        labels: ``{value: name}`` of the structures.
        name_key: the sample's entry holding the output name.
        overwrite: replace existing files.
        warn_without_dicom: warn, naming the case, when a sample did not come from a DICOM
            series (the user asked for the object explicitly).
    """

    suffix, kind, option = "", "", ""

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | Path,
        labels: Mapping[int, str],
        name_key: str = "name",
        overwrite: bool = False,
        warn_without_dicom: bool = False,
    ) -> None:
        super().__init__(keys, output_dir, labels, name_key, overwrite)
        self.warn_without_dicom = bool(warn_without_dicom)

    def write(
        self, mask: np.ndarray, affine: np.ndarray, source: Path, out_path: Path, review: Mapping | None = None
    ) -> None:
        raise NotImplementedError

    def planned_outputs(self, data: Mapping[Hashable, object]) -> list[Path]:
        """The files this transform will write for a sample: one per key, DICOM input only."""
        source = data.get("image")
        if not isinstance(source, (str, os.PathLike)) or not Path(source).is_dir():
            return []
        return [self.output_dir / f"{output_name(data, 'image', self.name_key)}{self.suffix}" for _ in self.keys]

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            source = value.meta.get("filename_or_obj") if isinstance(value, MetaTensor) else None
            if not source or not Path(str(source)).is_dir():
                if self.warn_without_dicom:
                    warnings.warn(
                        f"{self.option} is on, but {output_name(d, key, self.name_key)} ({source}) is not a DICOM "
                        f"series: a {self.kind} refers to the series it segments, so it is not written for it.",
                        stacklevel=2,
                    )
                continue
            out_path = self.output_dir / f"{output_name(d, key, self.name_key)}{self.suffix}"
            review = value.meta.get(REVIEW_KEY)
            self.write(np.asarray(value)[0], np.asarray(value.affine), Path(str(source)), out_path, review)
            logger.info("%s written: %s", self.kind, out_path)
        return d


class SaveDicomSegd(SaveDicomObjectd):
    """Save a label map that came from a DICOM series as a DICOM SEG next to the NIfTI: ``<name>_seg.dcm``.

    Use it after :class:`~monai_unet2015.transforms.LabelsToSourceGridd` (the label map on
    the series' own grid), as in :func:`inference_postprocessing`; :func:`write_dicom_seg`
    writes it. Arguments as :class:`SaveDicomObjectd`'s (``warn_without_dicom``: the user
    asked for SEGs explicitly, ``--dicom_seg true``), and ``model_name`` / ``model_version``:
    the model the SEG names (the bundles pass their metadata's name and version).
    """

    suffix, kind, option = "_seg.dcm", "DICOM SEG", "dicom_seg"

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | Path,
        labels: Mapping[int, str],
        name_key: str = "name",
        overwrite: bool = False,
        warn_without_dicom: bool = False,
        model_name: str = DEFAULT_MODEL_NAME,
        model_version: str = __version__,
    ) -> None:
        super().__init__(keys, output_dir, labels, name_key, overwrite, warn_without_dicom)
        if not has_highdicom:
            raise ImportError("SaveDicomSegd needs highdicom: pip install 'monai_unet2015[dicom]'.")
        self.model_name, self.model_version = str(model_name), str(model_version)

    def write(
        self, mask: np.ndarray, affine: np.ndarray, source: Path, out_path: Path, review: Mapping | None = None
    ) -> None:
        write_dicom_seg(
            mask, affine, source, out_path, self.labels, self.overwrite, self.model_name, self.model_version
        )
