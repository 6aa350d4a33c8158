"""The shipped bundles found by name or folder; bundle list / bundle init on the command line."""

from __future__ import annotations

import pytest

from monai_unet2015.__main__ import main
from monai_unet2015.bundle.locations import bundle_names, bundle_path, bundles_dir, init_bundle


def test_bundles_are_found_by_name_inside_the_package_and_by_folder(tmp_path):
    assert bundle_names() == ["unet2015_cells_2d", "unet3d_ct_organs"]
    assert bundle_path("unet3d_ct_organs") == bundles_dir() / "unet3d_ct_organs"
    copy = init_bundle("unet3d_ct_organs", tmp_path)
    assert bundle_path(copy) == copy and bundle_path(str(copy)) == copy


def test_an_unknown_bundle_names_the_shipped_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"bundle 'unet3d' is neither a folder nor a shipped bundle; the shipp"):
        bundle_path("unet3d")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty has no configs/train.json or configs/inference.json"):
        bundle_path(tmp_path / "empty")


def test_init_copies_configs_docs_licence_and_no_run_outputs(tmp_path):
    copy = init_bundle("unet2015_cells_2d", tmp_path)
    assert sorted(p.name for p in copy.iterdir()) == ["LICENSE", "configs", "docs"]
    (copy / "models").mkdir()
    with pytest.raises(FileExistsError, match=r"unet2015_cells_2d exists: choose another DIR, or pass --overwrite"):
        init_bundle("unet2015_cells_2d", tmp_path)
    assert not (init_bundle("unet2015_cells_2d", tmp_path, overwrite=True) / "models").exists()
    with pytest.raises(FileNotFoundError, match=r"bundle 'nope' is not shipped; the shipped bundles are unet2015"):
        init_bundle("nope", tmp_path)


def test_the_bundle_commands(tmp_path, capsys):
    assert main(["bundle", "list"]) == 0
    assert capsys.readouterr().out.split() == ["unet2015_cells_2d", "unet3d_ct_organs"]
    assert main(["bundle", "init", "unet3d_ct_organs", str(tmp_path)]) == 0
    assert f"cd {tmp_path / 'unet3d_ct_organs'} && python -m monai.bundle run" in capsys.readouterr().out
    assert main(["bundle", "init", "unet3d_ct_organs", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'unet3d_ct_organs'} exists")
