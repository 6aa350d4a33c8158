"""The real-data benchmark's own arithmetic: the colony window, renumbering, pooled scores, label grids, the table.

The benchmark fetches its images from the registries; these tests use small generated arrays
and need no network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from peer_nnunet import markdown_table, peer_runs, pooled_instance_scores  # noqa: E402
from real_data import (  # noqa: E402
    PYRADIOMICS_DATA,
    abdomen_labels,
    colony_window,
    on_image_grid,
    renumbered,
    write_lung_ct,
)
from real_data_quality import instance_scores, otsu_watershed  # noqa: E402


def test_colony_window_is_centred_on_the_labelled_pixels():
    mask = np.zeros((100, 120), np.uint16)
    mask[40:50, 60:80] = 7
    rows, cols = colony_window(mask, (30, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (30, 60, 50, 90)
    assert mask[rows, cols].sum() == mask.sum()


def test_colony_window_stays_inside_the_image():
    mask = np.zeros((100, 120), np.uint16)
    mask[0:5, 115:120] = 1
    rows, cols = colony_window(mask, (30, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 30, 80, 120)


def test_colony_window_rejects_a_colony_larger_than_the_window():
    mask = np.zeros((100, 120), np.uint16)
    mask[10:60, 10:20] = 1
    with pytest.raises(ValueError, match="span 50 px, more than the window's 30"):
        colony_window(mask, (30, 40))


def test_colony_window_rejects_an_empty_mask():
    with pytest.raises(ValueError, match="no labelled pixel"):
        colony_window(np.zeros((10, 10), np.uint16), (5, 5))


def test_renumbered_keeps_the_objects_and_numbers_them_from_one():
    labels = np.array([[0, 582, 582], [0, 17, 0], [301, 0, 0]], np.uint16)
    expected = np.array([[0, 3, 3], [0, 1, 0], [2, 0, 0]], np.uint16)
    np.testing.assert_array_equal(renumbered(labels), expected)


def test_renumbered_without_background():
    np.testing.assert_array_equal(renumbered(np.array([[5, 9]])), [[1, 2]])


def _two_squares(shift: int = 0) -> np.ndarray:
    labels = np.zeros((20, 20), np.int32)
    labels[2:8, 2 + shift : 8 + shift] = 1
    labels[12:18, 12:18] = 2
    return labels


def test_pooled_scores_count_every_object_once():
    truths = [_two_squares(), _two_squares()]
    # the first image is segmented exactly; the second finds one of its two objects
    second = _two_squares()
    second[second == 2] = 0
    pooled = pooled_instance_scores(truths, [_two_squares(), second])
    assert pooled["true_objects"] == 4
    assert pooled["objects"] == 3
    assert pooled["f1_iou0.5"] == pytest.approx(2 * 3 / (3 + 4), abs=1e-4)


def test_pooled_scores_match_objects_within_their_own_image():
    # the same ids in both images must not make the second image's object match the first's
    truths = [_two_squares(), _two_squares()]
    pooled = pooled_instance_scores(truths, [_two_squares(), _two_squares()])
    assert pooled["f1_iou0.5"] == 1.0
    assert pooled["true_objects"] == 4


def test_pooled_scores_of_one_image_are_its_scores():
    truth, prediction = _two_squares(), _two_squares(shift=2)
    assert pooled_instance_scores([truth], [prediction]) == instance_scores(truth, prediction)


def test_pooled_scores_reject_unequal_counts():
    with pytest.raises(ValueError, match="2 truth images but 1 predictions"):
        pooled_instance_scores([_two_squares(), _two_squares()], [_two_squares()])


@pytest.mark.parametrize("dark_objects", [False, True])
def test_otsu_watershed_finds_bright_or_dark_objects(dark_objects):
    truth = _two_squares()
    background, objects = (200.0, 20.0) if dark_objects else (20.0, 200.0)
    image = np.where(truth > 0, objects, background).astype(np.float32)
    found = otsu_watershed(image, min_size=5, dark_objects=dark_objects)
    assert instance_scores(truth, found)["f1_iou0.5"] == 1.0


def test_totalsegmentator_ids_become_liver_spleen_stomach_and_the_rest_background():
    ids = np.array([0, 5, 1, 6, 2, 117])
    assert abdomen_labels(ids).tolist() == [0, 1, 2, 3, 0, 0]


def test_a_label_stored_flipped_is_put_on_the_image_grid():
    import nibabel as nib

    image_affine = np.diag([-0.5, -0.5, 2.0, 1.0])
    image_affine[:3, 3] = [10.0, 20.0, -5.0]
    truth = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2)
    flipped_affine = image_affine.copy()
    flipped_affine[1, 1], flipped_affine[1, 3] = 0.5, 20.0 - 0.5 * 2  # the same voxels, y stored the other way round
    label = nib.Nifti1Image(truth[:, ::-1, :].copy(), flipped_affine)
    np.testing.assert_array_equal(on_image_grid(label, image_affine), truth)
    shifted_affine = image_affine.copy()
    shifted_affine[0, 3] += 1.0  # another grid: an error, never a silent shift
    with pytest.raises(ValueError, match="is not the image's"):
        on_image_grid(nib.Nifti1Image(truth, shifted_affine), image_affine)


def write_nrrd(array: np.ndarray, spacing: tuple, path: Path) -> None:
    """``array`` (x, y, z) as an NRRD with ``spacing``, as pyradiomics ships its test cases."""
    itk = pytest.importorskip("itk")
    image = itk.image_from_array(np.ascontiguousarray(array.transpose(2, 1, 0)))
    image.SetSpacing(spacing)
    itk.imwrite(image, str(path))


def fake_pyradiomics_cases(cache: Path, label_spacing: tuple = (0.6, 0.6, 5.0)) -> Path:
    data = cache / "extracted" / PYRADIOMICS_DATA
    data.mkdir(parents=True)
    for case in ("lung1", "lung2"):
        image = np.full((8, 6, 4), -800, np.int16)
        label = np.zeros((8, 6, 4), np.uint8)
        label[2:4, 2:4, 1:3] = 255  # stored as 255 in some tools: the tumour is class 1
        write_nrrd(image, (0.6, 0.6, 5.0), data / f"{case}_image.nrrd")
        write_nrrd(label, label_spacing, data / f"{case}_label.nrrd")
    return data


def test_the_lung_cases_become_a_training_patient_and_a_held_out_one_in_hu(tmp_path):
    import nibabel as nib

    fake_pyradiomics_cases(tmp_path / "cache")
    train = write_lung_ct(tmp_path / "real", tmp_path / "cache")
    for folder, case in ((train, "lung2"), (tmp_path / "real" / "lung_ct_test", "lung1")):
        image = nib.load(folder / "imagesTr" / f"pyradiomics_{case}.nii.gz")
        label = nib.load(folder / "labelsTr" / f"pyradiomics_{case}.nii.gz")
        assert image.shape == label.shape == (8, 6, 4)
        np.testing.assert_allclose(np.abs(np.diag(image.affine))[:3], [0.6, 0.6, 5.0])
        np.testing.assert_allclose(image.affine, label.affine)
        assert float(np.asarray(image.dataobj).max()) == -800
        assert np.unique(np.asarray(label.dataobj)).tolist() == [0, 1] and np.asarray(label.dataobj).sum() == 8


def test_a_lung_label_off_its_image_grid_is_refused(tmp_path):
    fake_pyradiomics_cases(tmp_path / "cache", label_spacing=(0.6, 0.6, 2.5))
    with pytest.raises(ValueError, match="lung2: the label's grid is not the image's"):
        write_lung_ct(tmp_path / "real", tmp_path / "cache")


def peer_record(dice: float, iterations: int) -> dict:
    scores = {"dice": {"liver": dice, "spleen": dice / 2, "stomach": 0.0}}
    return {"train": {"iterations": iterations}, "mirrored": scores, "plain": scores}


def test_the_table_judges_the_bundle_against_nnunets_best_configuration_with_iterations():
    runs = [
        {
            "budget_s": 330.0,
            "seed": seed,
            "bundle": {"epochs": 100 + seed, "dice": {"liver": 0.5, "spleen": 0.1, "stomach": 0.0}},
            "nnunet": {"2d": peer_record(0.7 + seed / 100, 800), "3d_fullres": peer_record(0.1, 10)},
        }
        for seed in (0, 1, 2)
    ]
    table = markdown_table({"abdomen_ct": {"runs": runs}})
    liver = next(line for line in table.splitlines() if "liver Dice" in line).split(" | ")
    same = "0.100 (0.100..0.100)"
    assert liver[3:6] == ["0.500 (0.500..0.500)", "0.710 (2d, mirrored)", "0.710 (0.700..0.720) / 0.710 (0.700..0.720)"]
    assert liver[6] == f"{same} / {same}"
    assert liver[7] == "-"  # no 3d_lowres planned
    training = next(line for line in table.splitlines() if "training" in line)
    assert training.split(" | ")[3:8] == [
        "101 (100..102) epochs",
        "",
        "800 (800..800) iterations",
        "10 (10..10) iterations",
        "-",
    ]


def test_result_files_of_one_configuration_read_as_that_configuration():
    legacy = {"nnunet_train": {"iterations": 5}, "nnunet_mirrored": {"dice": {}}, "nnunet_plain": {"dice": {}}}
    assert list(peer_runs("brain_aal", legacy)) == ["3d_fullres"]
    assert list(peer_runs("nuclei", legacy)) == ["2d"]
    assert peer_runs("brain_aal", legacy)["3d_fullres"]["train"]["iterations"] == 5


def test_fold_scores_pool_2d_objects_and_average_3d_dice_per_case(tmp_path):
    import nibabel as nib
    from peer_nnunet import fold_scorer
    from PIL import Image

    truth = np.zeros((20, 20), np.uint16)
    truth[2:6, 2:6], truth[10:14, 10:14] = 1, 2
    (tmp_path / "labels").mkdir()
    (tmp_path / "out").mkdir()
    Image.fromarray(truth).save(tmp_path / "labels" / "a.tif")
    Image.fromarray(truth[:, ::-1].copy()).save(tmp_path / "out" / "a_instances.png")  # both objects missed
    cells = fold_scorer("nuclei", tmp_path / "labels")(tmp_path / "out", ["a"])
    assert cells["key"] == cells["f1_iou0.5"] == 0.0
    volume = np.zeros((6, 6, 4), np.uint8)
    volume[:3], volume[3:] = 1, 2  # liver, spleen; no stomach in truth or prediction
    for name, found in (("b", volume), ("c", np.where(volume == 2, 0, volume))):
        nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "labels" / f"{name}.nii.gz")
        nib.save(nib.Nifti1Image(found.astype(np.uint8), np.eye(4)), tmp_path / "out" / f"{name}_seg.nii.gz")
    scores = fold_scorer("abdomen_ct", tmp_path / "labels")(tmp_path / "out", ["b", "c"])
    assert scores["dice"]["liver"] == 1.0 and scores["dice"]["spleen"] == 0.5  # 1 in b, 0 in c
    assert scores["key"] == round(float(np.mean(list(scores["dice"].values()))), 4)
