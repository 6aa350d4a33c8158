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
