"""RTSTRUCT and DICOM SEG labels as voxels of their series: the contour rule, the names, the dataset layout."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import ITKReader, PydicomReader
from monai.transforms import LoadImage
from skimage.draw import polygon as skimage_polygon

from monai_unet2015.data import load_datalist, write_dicom_seg, write_dicom_series
from monai_unet2015.data.dicom_geometry import series_grid
from monai_unet2015.data.dicom_labels import dicom_label_map
from monai_unet2015.data.label_names import ClassNameMap
from monai_unet2015.data.rtstruct_labels import fill_even_odd
from tests.data.dicom_label_files import voxel_to_lps, write_dicom_labelled_ct, write_rtstruct


def rotation_affine(spacing, origin, degrees, flip=(1, 1, 1)):
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(np.multiply(spacing, flip))
    affine[:3, 3] = origin
    return affine


AFFINES = {
    "axial": rotation_affine((0.8, 0.8, 2.5), (10.0, -20.0, 30.0), 0),
    "oblique_25_degrees": rotation_affine((0.7, 0.9, 3.0), (-5.0, 7.5, -40.0), 25),
    "flipped_slices": rotation_affine((1.0, 1.2, 2.0), (3.0, 2.0, 50.0), 0, flip=(1, -1, -1)),
    "sagittal": np.array([[0, 0, 2.0, -30.0], [0.9, 0, 0, -10.0], [0, 1.1, 0, 20.0], [0, 0, 0, 1.0]]),
}
SHAPE = (40, 32, 8)


def write_series(folder: Path, affine: np.ndarray, shape=SHAPE) -> list[Path]:
    return write_dicom_series(np.zeros(shape), affine, folder)


def disc(centre, radius, points=400, k=0.0):
    """A closed polygon (voxel indices x, y, k) approximating a circle."""
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return np.column_stack(
        [centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles), np.full(points, k)]
    )


def rtstruct_label(tmp_path, affine, contours_in_voxels, names=("GTV",), shape=SHAPE, **kwargs):
    """Rasterise one ROI per entry of ``contours_in_voxels`` (voxel-index contours) through an RTSTRUCT."""
    files = write_series(tmp_path / "ct", affine, shape)
    rois = {name: [voxel_to_lps(c, affine) for c in contours] for name, contours in zip(names, contours_in_voxels)}
    path = write_rtstruct(tmp_path / "rtss.dcm", files, rois, **kwargs)
    class_map = ClassNameMap({i + 1: name for i, name in enumerate(names)})
    return dicom_label_map(path, series_grid(files), class_map)


# --- the series grid is the one MONAI's readers load ---


@pytest.mark.parametrize("reader", [ITKReader, PydicomReader])
@pytest.mark.parametrize("name", AFFINES)
def test_series_grid_is_the_grid_monai_reads(tmp_path, reader, name):
    files = write_series(tmp_path, AFFINES[name])
    image = LoadImage(reader=reader(), image_only=True)(str(tmp_path))
    grid = series_grid(list(reversed(files)))  # any file order
    assert grid.shape == tuple(image.shape)
    np.testing.assert_allclose(grid.affine, np.asarray(image.affine), atol=1e-4)


def test_series_grid_refuses_slices_of_two_orientations(tmp_path):
    first = write_series(tmp_path / "a", AFFINES["axial"])
    other = write_series(tmp_path / "b", AFFINES["oblique_25_degrees"])
    import pydicom

    ds = pydicom.dcmread(other[0])
    ds.SeriesInstanceUID = pydicom.dcmread(first[0]).SeriesInstanceUID
    ds.save_as(other[0])
    with pytest.raises(ValueError, match=r"IM_0001.dcm is oriented unlike"):
        series_grid([*first, other[0]])


# --- the even-odd fill against an independent rasteriser (scikit-image) ---


def star(rng, centre, radius, points):
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radii = radius * rng.uniform(0.4, 1.0, points)
    return np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)])


def skimage_even_odd(polygons, shape):
    mask = np.zeros(shape, bool)
    for polygon in polygons:
        inside = np.zeros(shape, bool)
        inside[skimage_polygon(polygon[:, 0], polygon[:, 1], shape)] = True
        mask ^= inside
    return mask


@pytest.mark.parametrize("seed", range(6))
def test_even_odd_fill_matches_scikit_image_with_holes_islands_and_clipping(seed):
    rng = np.random.default_rng(seed)
    shape = (50, 40)
    outer = star(rng, (25.13, 20.37), 18.0, 12)
    hole = star(rng, (25.13, 20.37), 6.0, 7)  # inside the outer one: a hole
    island = star(rng, (25.13, 20.37), 2.5, 5)  # inside the hole: an island
    apart = star(rng, (46.21, 3.33), 9.0, 9)  # reaches past two edges
    polygons = [p + 0.0137 for p in (outer, hole, island, apart)]  # no centre on an edge
    np.testing.assert_array_equal(fill_even_odd(polygons, shape), skimage_even_odd(polygons, shape))


def test_a_square_fills_the_centres_inside_it():
    square = np.array([[0.5, 0.5], [2.5, 0.5], [2.5, 2.5], [0.5, 2.5]])
    assert fill_even_odd([square], (4, 4)).sum() == 4
    assert not fill_even_odd([square + 10], (4, 4)).any()  # wholly outside: nothing


# --- RTSTRUCT contours on the series, against their own geometry ---


@pytest.mark.parametrize("name", AFFINES)
def test_a_disc_contour_labels_the_voxels_whose_centres_are_within_its_radius(tmp_path, name):
    """World distance from the contour's centre decides, whatever the series' orientation."""
    affine = AFFINES[name]
    radius = 9.3
    contours = [disc((20.2, 15.6), radius, k=k) for k in range(SHAPE[2])]
    label = rtstruct_label(tmp_path, affine, [contours])
    ii, jj = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    distance = np.hypot(ii - 20.2, jj - 15.6)
    for k in range(SHAPE[2]):
        assert label[:, :, k][distance < radius - 0.05].all()
        assert not label[:, :, k][distance > radius + 0.05].any()
    polygon_area = np.pi * radius**2
    assert abs(int((label[:, :, 0] > 0).sum()) - polygon_area) < 2 * np.pi * radius  # within the rim


def test_several_contours_on_a_slice_and_a_hole(tmp_path):
    ring = [disc((12.3, 12.1), 8.0, k=2), disc((12.3, 12.1), 3.0, k=2)]
    second = [disc((30.4, 20.2), 4.0, k=2)]
    label = rtstruct_label(tmp_path, AFFINES["axial"], [ring + second])
    assert label[12, 12, 2] == 0 and label[12, 18, 2] == 1  # the hole, the ring
    assert label[30, 20, 2] == 1  # the second contour on the same slice
    assert label[:, :, [0, 1, 3]].sum() == 0  # only slice 2 has contours


def test_a_contour_past_the_image_is_clipped(tmp_path):
    big = [np.array([[-10.2, -10.3, 4], [60.1, -10.3, 4], [60.1, 50.2, 4], [-10.2, 50.2, 4]], float)]
    label = rtstruct_label(tmp_path, AFFINES["axial"], [big])
    assert label[:, :, 4].all() and label.sum() == SHAPE[0] * SHAPE[1]


@pytest.mark.parametrize(("plane", "slices"), [(3.3, [3]), (3.5, [4]), (3.7, [4]), (-0.5, [0]), (7.5, [])])
def test_a_contour_between_slices_goes_to_one_slice_the_upper_half_way(tmp_path, plane, slices):
    label = rtstruct_label(tmp_path, AFFINES["axial"], [[disc((20.0, 16.0), 5.0, k=plane)]])
    assert sorted(np.flatnonzero(label.any(axis=(0, 1))).tolist()) == slices


def test_contours_finer_than_the_slices_are_sampled_not_stacked(tmp_path):
    """Planes every half slice: each slice takes its own plane; the half-way planes are not XOR-ed in."""
    contours = [disc((20.0, 16.0), 3.0 + k, k=k) for k in np.arange(0, SHAPE[2] - 0.5, 0.5)]
    label = rtstruct_label(tmp_path, AFFINES["axial"], [contours])
    alone = rtstruct_label(tmp_path / "alone", AFFINES["axial"], [contours[::2]])  # the slices' own planes
    np.testing.assert_array_equal(label, alone)
    assert all(label[:, :, k].any() for k in range(SHAPE[2]))


def test_contour_planes_beyond_the_series_are_left_out_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        label = rtstruct_label(tmp_path, AFFINES["axial"], [[disc((20.0, 16.0), 5.0, k=-3), disc((20, 16), 5.0, k=1)]])
    assert label[:, :, 1].any() and label.sum() == label[:, :, 1].sum()
    assert "beyond the series' slices" in caplog.text


def test_an_roi_without_contours_is_an_empty_class_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        label = rtstruct_label(tmp_path, AFFINES["axial"], [[], [disc((20.0, 16.0), 5.0, k=1)]], names=("GTV", "CTV"))
    assert set(np.unique(label).tolist()) == {0, 2}
    assert "ROI 'GTV' has no closed contour" in caplog.text


def test_overlapping_rois_keep_the_higher_class_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        label = rtstruct_label(
            tmp_path, AFFINES["axial"], [[disc((20, 16), 8.0, k=1)], [disc((20, 16), 3.0, k=1)]], names=("organ", "gtv")
        )
    assert label[20, 16, 1] == 2 and label[20, 22, 1] == 1
    assert "structures overlap" in caplog.text


def test_a_contour_out_of_the_slice_planes_is_an_error_naming_file_and_roi(tmp_path):
    tilted = disc((20.0, 16.0), 5.0, k=2)
    tilted[:, 2] += 0.05 * (tilted[:, 0] - 20.0)  # tilted by a quarter slice across the disc
    with pytest.raises(ValueError, match=r"rtss.dcm: contour 0 of ROI 'GTV' is not in a slice plane"):
        rtstruct_label(tmp_path, AFFINES["axial"], [[tilted]])


def test_an_rtstruct_of_another_frame_of_reference_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"rtss.dcm: ROI 'GTV' is in frame of reference 1\.2\.3, series"):
        rtstruct_label(tmp_path, AFFINES["axial"], [[disc((20, 16), 5.0, k=1)]], frame_of_reference_uid="1.2.3")


# --- DICOM SEG ---


@pytest.mark.parametrize("name", ["axial", "oblique_25_degrees", "sagittal"])
def test_a_seg_reads_back_as_the_mask_it_was_written_from(tmp_path, name):
    files = write_series(tmp_path / "ct", AFFINES[name])
    mask = np.zeros(SHAPE, np.uint8)
    mask[5:15, 4:12, 1:4] = 1
    mask[20:30, 10:20, 5] = 2
    write_dicom_seg(mask, AFFINES[name], tmp_path / "ct", tmp_path / "seg.dcm", {1: "Kidney", 2: "tumour"})
    label = dicom_label_map(tmp_path / "seg.dcm", series_grid(files), ClassNameMap({"2": "kidney", "5": "TUMOUR"}))
    np.testing.assert_array_equal(label, np.select([mask == 1, mask == 2], [2, 5], 0))


def test_a_seg_on_another_grid_is_an_error(tmp_path):
    files = write_series(tmp_path / "ct", AFFINES["axial"])
    shifted = AFFINES["axial"].copy()
    shifted[:3, 3] += [0.4, 0.0, 0.0]  # half a voxel: another reconstruction
    write_series(tmp_path / "other", shifted)
    mask = np.zeros(SHAPE, np.uint8)
    mask[5:15, 4:12, 1:4] = 1
    write_dicom_seg(mask, shifted, tmp_path / "other", tmp_path / "seg.dcm", {1: "liver"})
    grid = series_grid(files)
    other_frame = grid.__class__(grid.shape, grid.lps_affine, grid.sop_instance_uids, "", grid.series_instance_uid)
    with pytest.raises(ValueError, match=r"seg.dcm: segment 'liver' is not on the voxel grid of series"):
        dicom_label_map(tmp_path / "seg.dcm", other_frame, ClassNameMap({1: "liver"}))


def test_a_label_that_is_neither_rtstruct_nor_seg_is_an_error(tmp_path):
    files = write_series(tmp_path / "ct", AFFINES["axial"])
    with pytest.raises(ValueError, match=r"IM_0001.dcm is a CT object; a DICOM label must be an RTSTRUCT or a SEG"):
        dicom_label_map(files[0], series_grid(files), ClassNameMap({1: "liver"}))


# --- names to classes ---


def test_names_match_their_class_by_alias_whatever_the_case_and_spaces():
    names = ClassNameMap({"0": "background", "1": ["liver", "Liver_1"], "2": "spleen"})
    assert names.match(["BODY", " LIVER_1 ", "Spleen"], "rs.dcm") == {1: " LIVER_1 ", 2: "Spleen"}
    assert names.num_classes == 3


def test_nnunet_v2_labels_read_the_same():
    assert ClassNameMap({"background": 0, "liver": 1, "spleen": 2}).aliases == {1: ("liver",), 2: ("spleen",)}


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (["BODY", "liver"], r"rs.dcm: class 2 \(spleen\) matches no name. Names found: \['BODY', 'liver'\]"),
        (["Liver", "liver_1", "spleen"], r"rs.dcm: class 1 matches several: \['Liver', 'liver_1'\]"),
    ],
    ids=["missing", "ambiguous"],
)
def test_a_missing_or_ambiguous_class_is_one_line_naming_the_file_and_the_names_found(found, message):
    names = ClassNameMap({1: ["liver", "liver_1"], 2: "spleen"})
    with pytest.raises(ValueError, match=message) as error:
        names.match(found, "rs.dcm")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        ([("1", "liver")], TypeError, "labels must map class ids to names, got list"),
        ({"0": "background"}, ValueError, "labels names no class besides the background"),
        ({"-1": "liver"}, ValueError, "class id -1 is negative"),
        ({"one": "liver"}, ValueError, "'one' is not a class id"),
        ({"1": ""}, ValueError, "class 1 needs one or more non-empty names"),
        ({"1": ["liver"], "2": ["Liver"]}, ValueError, "gives the name 'Liver' to class 1 and to class 2"),
    ],
    ids=["not_a_mapping", "background_only", "negative", "not_an_id", "empty_name", "one_name_two_classes"],
)
def test_bad_class_maps_are_errors_naming_the_entry(labels, error, message):
    with pytest.raises(error, match=message):
        ClassNameMap(labels)


# --- the dataset layout: imagesTr/<case>/ + labelsTr/<case>.dcm + dataset.json ---


@pytest.fixture(scope="module")
def dicom_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom_labelled")
    return root, write_dicom_labelled_ct(root, kinds=("rtstruct", "seg"))


def test_rtstruct_and_seg_cases_load_as_labels_on_their_series(dicom_dataset):
    root, truths = dicom_dataset
    datalist = load_datalist(root)
    assert [item["name"] for item in datalist] == ["case_00", "case_01"]
    loader = LoadImage(image_only=True)
    for item in datalist:
        image, label = loader(item["image"]), loader(item["label"])
        assert image.shape == label.shape
        np.testing.assert_allclose(np.asarray(image.affine), np.asarray(label.affine), atol=1e-4)
        np.testing.assert_array_equal(np.asarray(label), truths[item["name"]])
        assert Path(item["annotation"]).name == f"{item['name']}.dcm"


def test_images_only_read_the_case_folders_without_class_map(dicom_dataset):
    root, _ = dicom_dataset
    assert [Path(item["image"]).name for item in load_datalist(root, with_labels=False)] == ["case_00", "case_01"]


def copy_dataset(root: Path, target: Path) -> Path:
    import shutil

    return Path(shutil.copytree(root, target))


def test_a_case_without_its_label_is_an_error_listing_it(dicom_dataset, tmp_path):
    root = copy_dataset(dicom_dataset[0], tmp_path / "d")
    (root / "labelsTr" / "case_01.dcm").rename(root / "labelsTr" / "case_09.dcm")
    with pytest.raises(
        ValueError, match=r"cases without a label: \['case_01'\]; labels without a case: \['case_09.dcm'\]"
    ):
        load_datalist(root)


def test_dicom_labels_without_a_class_map_are_an_error_naming_dataset_json(dicom_dataset, tmp_path):
    root = copy_dataset(dicom_dataset[0], tmp_path / "d")
    (root / "dataset.json").write_text(json.dumps({"name": "no labels"}))
    with pytest.raises(ValueError, match=r"dataset.json must hold a \"labels\" entry"):
        load_datalist(root)


def test_an_unmatched_roi_name_is_an_error_naming_the_label_file(dicom_dataset, tmp_path):
    root = copy_dataset(dicom_dataset[0], tmp_path / "d")
    (root / "dataset.json").write_text(json.dumps({"labels": {"1": "liver", "2": "spleen", "3": "kidney"}}))
    with pytest.raises(ValueError, match=r"case_00.dcm: class 3 \(kidney\) matches no name. Names found: \["):
        load_datalist(root)


def test_a_case_folder_with_two_series_is_an_error(dicom_dataset, tmp_path):
    root = copy_dataset(dicom_dataset[0], tmp_path / "d")
    write_series(root / "imagesTr" / "case_00" / "second", AFFINES["axial"])
    with pytest.raises(ValueError, match=r"case folder .*case_00 holds 2 image series"):
        load_datalist(root)


def test_a_nifti_label_beside_dicom_cases_is_used_as_it_is(dicom_dataset, tmp_path):
    root = copy_dataset(dicom_dataset[0], tmp_path / "d")
    converted = load_datalist(root)[1]["label"]
    (root / "labelsTr" / "case_01.dcm").unlink()
    nib.save(nib.load(converted), root / "labelsTr" / "case_01.nii.gz")
    item = load_datalist(root)[1]
    assert item["label"] == str(root / "labelsTr" / "case_01.nii.gz") == item["annotation"]
