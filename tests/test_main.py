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


def test_demo_command_runs_end_to_end_in_quick_mode(tmp_path):
    """The README's main job with one epoch per bundle: every output is written and reported."""
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai_unet2015",
            "demo",
            "--output-dir",
            str(tmp_path),
            "--ct-epochs",
            "1",
            "--cells-epochs",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["ct_3d"]["dice"]) == {"liver", "spleen", "kidney"}
    assert len(metrics["cells_2d"]["test_images"]) == 2
    assert (tmp_path / "figure.png").stat().st_size > 10_000
    assert nib.load(metrics["ct_3d"]["mask"]).shape == (128, 128, 40)
    assert any(path.endswith("_seg.dcm") for path in metrics["ct_3d"]["dicom_outputs"])
    assert f"figure: {tmp_path}/figure.png" in result.stdout
