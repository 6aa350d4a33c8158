"""The Python presets are the bundles' JSON declarations, read through MONAI's ConfigParser."""

from __future__ import annotations

import json
import shutil

import pytest

from monai_unet2015.data import bundle_configs, ct_preprocessing, declared_transforms, microscopy_preprocessing


@pytest.fixture
def edited_bundles(tmp_path, monkeypatch):
    """A copy of the shipped bundles in which ``edit(bundle, settings)`` changes ``common.json``."""
    copy = tmp_path / "bundles"
    shutil.copytree(bundle_configs.bundles_dir(), copy)
    monkeypatch.setattr(bundle_configs, "bundles_dir", lambda: copy)

    def edit(bundle: str, **settings) -> None:
        path = copy / bundle / "configs" / "common.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **settings}))

    return edit


def test_a_setting_changed_in_the_bundle_json_changes_the_python_preset(edited_bundles):
    edited_bundles("unet3d_ct_organs", ct_window=[-50, 90], pixdim=[2.0, 2.0, 3.0])
    edited_bundles("unet2015_cells_2d", intensity_percentiles=[5.0, 95.0])
    steps = ct_preprocessing()
    assert (steps[-1].transform.scaler.a_min, steps[-1].transform.scaler.a_max) == (-50, 90)
    assert tuple(steps[3].spacing_transform.pixdim) == (2.0, 2.0, 3.0)
    scaler = microscopy_preprocessing()[-1].transform.scaler
    assert (scaler.lower, scaler.upper) == (5.0, 95.0)


def test_an_argument_overrides_the_declared_setting_and_none_keeps_it():
    declared = ct_preprocessing()[-1].transform.scaler
    given = ct_preprocessing(window=(-100, 200))[-1].transform.scaler
    assert (declared.a_min, declared.a_max) == (-160, 240)
    assert (given.a_min, given.a_max) == (-100, 200)


@pytest.mark.parametrize(
    "label_key, keys, modes",
    [("label", ("image", "label"), ("bilinear", "nearest")), ("mask", ("image", "mask"), ("bilinear", "nearest"))],
)
def test_the_label_key_names_the_key_every_step_reads(label_key, keys, modes):
    load, check, orientation, spacing, _ = ct_preprocessing(label_key=label_key)
    assert tuple(load.keys) == tuple(orientation.keys) == tuple(spacing.keys) == keys
    assert check.label_key == label_key
    assert tuple(spacing.mode) == modes


def test_images_alone_take_inference_json_s_keys():
    load, check, _, spacing, _ = ct_preprocessing(label_key=None)
    assert tuple(load.keys) == tuple(spacing.keys) == ("image",) and check.label_key is None


def test_entries_set_values_inside_the_list():
    (load, *_) = declared_transforms("unet3d_ct_organs", entries={"preprocessing#0#reader": "NibabelReader"})
    assert type(load._loader.readers[-1]).__name__ == "NibabelReader"


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: declared_transforms("unet3d_ct_organs", ct_windw=[0, 1]),
            r"bundle 'unet3d_ct_organs' declares no setting 'ct_windw' \(did you mean 'ct_window'\?\); its settings: ",
        ),
        (
            lambda: declared_transforms("unet3d_ct", pixdim=[1, 1, 1]),
            r"bundle: no shipped bundle 'unet3d_ct'; the shipped bundles: unet2015_cells_2d, unet3d_ct_organs\.",
        ),
        (
            lambda: declared_transforms("unet2015_cells_2d", config="slices.json"),
            r"config: bundle 'unet2015_cells_2d' has no configs/slices.json\.",
        ),
        (
            lambda: declared_transforms("unet3d_ct_organs", "network_def"),
            r"list_id: 'network_def' of bundle 'unet3d_ct_organs' is a UNet3D, not a list\.",
        ),
        (
            lambda: declared_transforms("unet3d_ct_organs", modality="pet"),
            r"modality must be CT or MR \(any case; mri too\), got 'pet'",
        ),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
