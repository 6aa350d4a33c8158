"""The demo's and tutorials' figure: rows of one width, a caption and a legend each, instances in distinct colours."""

from __future__ import annotations

import numpy as np
from PIL import Image

from monai_unet2015.bundle.figure import INSTANCES, _instance_colours, overlay_figure
from monai_unet2015.data.rtstruct_writer import structure_color


def test_rows_of_other_sizes_fill_one_width_with_a_legend(tmp_path):
    small = np.zeros((40, 48), int)
    small[10:20, 10:20] = 1
    large = np.zeros((200, 260), int)
    large[50:90, 50:90] = 2
    rows = [
        ("ct", np.random.rand(40, 48), small, small, {1: "liver", 2: "spleen"}),
        ("big", np.random.rand(200, 260), large, large),
    ]
    pixels = np.asarray(Image.open(overlay_figure(rows, tmp_path / "f.png", width=900)))
    assert pixels.shape[1] == 900
    first_rows = pixels[:60].reshape(-1, 3)
    liver = np.asarray(structure_color(0))
    assert (np.abs(first_rows.astype(int) - liver).sum(axis=1) == 0).any()  # the legend's liver swatch
    # the small image is scaled up to the width: no blank half
    image_band = pixels[60:100, 600:900]
    assert image_band.std() > 10


def test_touching_instances_get_colours_far_apart():
    colours = _instance_colours(30)
    assert (colours[0] == 0).all() and len(colours) == 31
    neighbours = np.abs(np.diff(colours[1:], axis=0)).sum(axis=1)
    assert neighbours.min() > 60  # ids next to each other (often touching) differ clearly


def test_an_instance_row_paints_each_object_and_says_so(tmp_path):
    truth = np.zeros((60, 80), int)
    truth[10:40, 10:39], truth[10:40, 40:70] = 1, 2  # two touching cells
    merged = (truth > 0).astype(int)  # the prediction merges them
    path = overlay_figure([("cells", np.full((60, 80), 0.5), truth, merged, INSTANCES)], tmp_path / "f.png", 480)
    pixels = np.asarray(Image.open(path)).astype(int)
    height = pixels.shape[0]
    truth_panel = pixels[height - 60 :, 160 + 10 : 320 - 10]
    assert len({tuple(p) for p in truth_panel.reshape(-1, 3) if p.std() > 20}) >= 2  # two colours in the truth
