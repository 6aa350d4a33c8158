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


def test_version_names_the_package_and_what_it_runs_on(capsys):
    import pytest

    from monai_unet2015 import __version__

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    shown = capsys.readouterr().out.strip()
    assert stopped.value.code == 0
    assert shown.startswith(f"monai_unet2015 {__version__} (monai ") and ", torch " in shown


def test_the_help_is_plain_text(capsys):
    import pytest

    for arguments in (["--help"], ["plan", "--help"], ["dicom-node", "serve", "--help"]):
        with pytest.raises(SystemExit):
            main(arguments)
        shown = capsys.readouterr().out
        assert "``" not in shown and ":class:" not in shown and ":func:" not in shown, arguments
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "Not for diagnostic use" in " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_plan_names_its_positional_dataset_dir_as_typed(tmp_path, capsys):
    assert main(["plan", str(tmp_path / "missing"), "--output", str(tmp_path / "plan.json")]) == 2
    error = capsys.readouterr().err
    assert f"dataset_dir {tmp_path / 'missing'} does not exist" in error and "--dataset_dir" not in error
