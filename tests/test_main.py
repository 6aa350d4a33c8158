import json

import nibabel as nib

from monai_unet2015.__main__ import main


def test_smoke_command_writes_masks_and_summary(tmp_path, capsys):
    assert main(["smoke", "--output-dir", str(tmp_path), "--device", "cpu"]) == 0
    summary = json.loads((tmp_path / "smoke_summary.json").read_text())
    assert summary["cases"]["2d"]["output_shape"] == [1, 2, 388, 388]
    assert summary["cases"]["3d"]["output_shape"] == [1, 3, 44, 44, 28]
    assert nib.load(tmp_path / "smoke_3d_mask.nii.gz").shape == (44, 44, 28)
    assert "smoke_summary.json" in capsys.readouterr().out


def test_every_command_is_an_argparse_sub_parser_the_help_shows(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["dicom-node", "--help"])
    shown = capsys.readouterr().out
    assert "serve" in shown and "status" in shown


def test_bundle_list_names_the_shipped_bundles(capsys):
    assert main(["bundle", "list"]) == 0
    assert capsys.readouterr().out.split() == ["unet2015_cells_2d", "unet3d_ct_organs"]
