"""What a destination's C-STORE answer means: success and every DICOM warning status are stored."""

from __future__ import annotations

import pytest

from monai_unet2015.dicom_node.sender import Destination, send_file
from tests.dicom_node.test_network_rules import ct_series
from tests.dicom_node.test_node import Pacs
from tests.ports import free_port


@pytest.mark.parametrize(
    "status, stored, detail",
    [
        (0x0000, True, ""),
        (0x0001, True, "stored with warning 0x0001 (warning)"),
        (0xB000, True, "stored with warning 0xB000 (coercion of data elements)"),
        (0xB123, True, "stored with warning 0xB123 (warning)"),
        (0x0107, True, "stored with warning 0x0107 (warning)"),  # attribute list error: a warning class
        (0xA700, False, "PACS answered failure status 0xA700"),
        (0xC000, False, "PACS answered failure status 0xC000"),
    ],
)
def test_success_and_every_warning_status_count_as_stored(tmp_path, status, stored, detail):
    (path, *_) = ct_series(tmp_path / "series", slices=1)
    pacs = Pacs(free_port(), status=status, accepts_seg=False).start()  # takes CT images
    try:
        outcome = send_file(path, Destination("PACS", "127.0.0.1", pacs.port))
    finally:
        pacs.stop()
    assert (outcome.stored, outcome.detail) == (stored, detail) and pacs.attempts == 1
