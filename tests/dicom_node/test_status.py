"""The node's status table: one line per series, whatever its reason holds."""

from __future__ import annotations

from monai_unet2015.dicom_node.status import status_table


def test_each_series_keeps_one_row_with_a_multi_line_reason():
    rows = [
        {"uid": "1.2.3", "state": "kept", "reason": "mixed geometry:\n  slice 1 sagittal\n  slice 2 axial\n"},
        {"uid": "1.2.4", "state": "sent", "revision": 1, "instances": 12, "reason": None},
    ]
    lines = status_table(rows).splitlines()
    assert len(lines) == 3 and lines[1].startswith("1.2.3") and lines[2].startswith("1.2.4")
    assert lines[1].endswith("mixed geometry: / slice 1 sagittal / slice 2 axial")


def test_no_series():
    assert status_table([]) == "no series"


def test_a_result_that_needs_review_says_so_with_its_reasons():
    rows = [
        {"uid": "1.2.3", "state": "sent", "review": ["liver: reaches the edge", "spleen: absent"]},
        {"uid": "1.2.4", "state": "sent", "review": []},
    ]
    header, flagged, clean = status_table(rows).splitlines()
    assert header.split()[:3] == ["uid", "state", "review"]
    assert "needs review" in flagged and flagged.endswith("liver: reaches the edge; spleen: absent")
    assert "needs review" not in clean
