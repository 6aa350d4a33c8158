"""A real treatment-planning RTSTRUCT read through the package, checked against an independent rasteriser.

Data (fetched, never committed): ``tests/testdata/example_data/`` of the dicompyler-core
0.5.6 source package on PyPI (BSD-3-Clause): ``rtss.dcm``, a structure set of 10 ROIs
(BODY, Breast, Heart, Lt Lung, Tumor Bed...) from a clinical planning system, 441 contours in
all, and ``ct.0.dcm``, the one CT slice of its series that the package ships (512x512,
1.07 mm). Only the slice's own contour plane can be rasterised, which here holds the BODY
contours (two of them: the trunk and an arm).

What it checks, with the package's code (:func:`~monai_unet2015.data.rtstruct_labels.read_rtstruct`,
:func:`~monai_unet2015.data.dicom_geometry.series_grid`,
:func:`~monai_unet2015.data.rtstruct_labels.rasterise_contours`):

- every ROI is parsed, and its frame of reference is the CT's;
- the slice's mask equals scikit-image's ``draw.polygon`` (even-odd over the contours) on
  pixel coordinates computed directly from ImagePositionPatient / PixelSpacing (an axial
  slice), which shares no code with the package's geometry;
- the HU inside the BODY mask are tissue and outside are air.

Example::

    python benchmarks/real_rtstruct.py   # writes benchmarks/results/real_rtstruct_cpu.json
"""

from __future__ import annotations

import numpy as np
import pydicom
from common import write_results
from real_data import fetch_source_package
from skimage.draw import polygon

from monai_unet2015.data.dicom_geometry import series_grid
from monai_unet2015.data.rtstruct_labels import rasterise_contours, read_rtstruct

DICOMPYLER_CORE = "dicompyler-core==0.5.6"
EXAMPLE_DATA = "dicompyler-core-0.5.6/tests/testdata/example_data"


def independent_mask(contours: list[np.ndarray], ct: pydicom.Dataset) -> np.ndarray:
    """(rows, columns) mask from scikit-image, pixel coordinates straight from the axial slice's header."""
    x0, y0, z0 = (float(v) for v in ct.ImagePositionPatient)
    row_spacing, column_spacing = (float(v) for v in ct.PixelSpacing)
    thickness = float(ct.SliceThickness)
    mask = np.zeros((ct.Rows, ct.Columns), bool)
    for points in contours:
        if abs(points[0, 2] - z0) >= thickness / 2:
            continue
        inside = np.zeros_like(mask)
        rows, columns = (points[:, 1] - y0) / row_spacing, (points[:, 0] - x0) / column_spacing
        inside[polygon(rows, columns, mask.shape)] = True
        mask ^= inside
    return mask


def main() -> None:
    folder = fetch_source_package(DICOMPYLER_CORE, EXAMPLE_DATA)
    ct = pydicom.dcmread(folder / "ct.0.dcm")
    orientation = np.asarray(ct.ImageOrientationPatient, dtype=float)
    if not np.allclose(orientation, [1, 0, 0, 0, 1, 0], atol=1e-6):
        raise SystemExit("the independent check assumes an axial slice")
    grid = series_grid([folder / "ct.0.dcm"])
    hu = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    rois = []
    for roi in read_rtstruct(folder / "rtss.dcm"):
        mask = rasterise_contours(roi, grid, "rtss.dcm")[:, :, 0].T  # (rows, columns) as the slice
        reference = independent_mask(roi.contours, ct)
        entry = {
            "roi": roi.name,
            "contours": len(roi.contours),
            "frame_of_reference_is_the_ct_s": roi.frame_of_reference_uid == ct.FrameOfReferenceUID,
            "voxels_on_the_shipped_slice": int(mask.sum()),
            "voxels_scikit_image": int(reference.sum()),
            "voxels_differing": int((mask != reference).sum()),
        }
        if mask.any():
            entry["hu_median_inside"] = float(np.median(hu[mask]))
            entry["hu_median_outside"] = float(np.median(hu[~mask]))
        rois.append(entry)
    path = write_results(
        "real_rtstruct_cpu",
        {"data": f"{DICOMPYLER_CORE} source package, {EXAMPLE_DATA}/(rtss.dcm, ct.0.dcm)", "rois": rois},
    )
    for entry in rois:
        print(entry)
    print(f"written {path}")


if __name__ == "__main__":
    main()
