"""Side-by-side PNG figures (image | ground truth | prediction) with legends, without a plotting library."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from monai_unet2015.data.rtstruct_writer import structure_color

__all__ = ["overlay_figure", "display_figure", "INSTANCES"]

# Class colours: the palette every output uses (structure_color), background black.
_CAPTION_PX, _LEGEND_PX = 18, 15
#: a row's legend value meaning "an instance map": each object its own colour
INSTANCES = "instances"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1, 99))
    scaled = np.clip((image - low) / max(high - low, 1e-6), 0, 1)
    return np.repeat((scaled * 255)[..., None], 3, axis=-1)


def _class_colours(count: int) -> np.ndarray:
    return np.array([[0, 0, 0], *[structure_color(i) for i in range(count)]], np.float32)


def _instance_colours(count: int) -> np.ndarray:
    """Bright colours far apart in hue for ids 1..count (golden-ratio steps), background black: touching
    objects get different colours, so a merge of two shows as one colour where two should be."""
    hues = (np.arange(count) * 0.618034) % 1.0
    rgb = np.array([colorsys.hsv_to_rgb(h, 0.85, 1.0) for h in hues]) * 255 if count else np.zeros((0, 3))
    return np.concatenate([np.zeros((1, 3)), rgb]).astype(np.float32)


def _overlay(grey: np.ndarray, labels: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    painted = colours[np.clip(labels.astype(int), 0, len(colours) - 1)]
    mixed = np.where(labels[..., None] > 0, (1 - alpha) * grey + alpha * painted, grey)
    return mixed.astype(np.uint8)


def _legend_items(legend, truth: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, list]:
    """The colours of a row and its legend entries ``[(colour, text), ...]``."""
    if legend == INSTANCES:
        count = int(max(truth.max(), prediction.max(), 0))
        return _instance_colours(count), [(None, "each object its own colour: a merge shows as one colour")]
    names = dict(legend or {})
    count = int(max(truth.max(), prediction.max(), max(names, default=0), 0))
    colours = _class_colours(count)
    shown = sorted(names) or list(range(1, count + 1))
    return colours, [(tuple(int(c) for c in colours[v]), names.get(v, f"label {v}")) for v in shown]


def _row_picture(title: str, image, truth, prediction, legend, width: int) -> Image.Image:
    grey = _grey(np.asarray(image, np.float32))
    colours, items = _legend_items(legend, np.asarray(truth), np.asarray(prediction))
    panels = [grey.astype(np.uint8), _overlay(grey, np.asarray(truth), colours)]
    panels.append(_overlay(grey, np.asarray(prediction), colours))
    gap = np.full((grey.shape[0], max(2, grey.shape[1] // 60), 3), 255, np.uint8)
    row = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    height = round(row.shape[0] * width / row.shape[1])
    picture = Image.fromarray(row).resize((width, height), Image.NEAREST)
    header = _CAPTION_PX + _LEGEND_PX + 16
    canvas = Image.new("RGB", (width, height + header), "white")
    canvas.paste(picture, (0, header))
    draw = ImageDraw.Draw(canvas)
    draw.text((6, 3), f"{title}:  image  |  ground truth  |  prediction", fill="black", font=_font(_CAPTION_PX))
    left = 6
    for colour, text in items:
        top = _CAPTION_PX + 9
        if colour is not None:
            draw.rectangle((left, top, left + _LEGEND_PX, top + _LEGEND_PX), fill=colour, outline="black")
            left += _LEGEND_PX + 4
        draw.text((left, top), text, fill="black", font=_font(_LEGEND_PX))
        left += int(draw.textlength(text, font=_font(_LEGEND_PX))) + 16
    return canvas


def overlay_figure(rows: list[tuple], path: str | Path, width: int = 1200) -> Path:
    """Write one row per ``(title, image, truth, prediction[, legend])`` (2D arrays, rows x columns).

    Columns: the image, the ground truth over it, the prediction over it; each row scaled to
    ``width`` pixels, with its caption and a legend. ``legend``: ``{label value: name}`` (class
    maps, in the colours every output uses), :data:`INSTANCES` (instance maps: each object
    its own colour, so touching objects merged into one show), or left out (class colours
    named "label 1", "label 2"...).

    Example::

        >>> import tempfile
        >>> image = np.random.rand(40, 60)
        >>> truth = np.zeros((40, 60), int); truth[5:20, 5:25] = 1; truth[5:20, 26:40] = 2
        >>> row = ("cells", image, truth, (truth > 0).astype(int), INSTANCES)
        >>> path = overlay_figure([row], Path(tempfile.mkdtemp()) / "figure.png", width=600)
        >>> Image.open(path).size[0]
        600
    """
    panels = [_row_picture(*row[:4], row[4] if len(row) > 4 else None, width) for row in rows]
    figure = Image.new("RGB", (width, sum(p.height + 8 for p in panels)), "white")
    top = 0
    for panel in panels:
        figure.paste(panel, (0, top))
        top += panel.height + 8
    path = Path(path)
    figure.save(path)
    return path


def display_figure(path: str | Path) -> None:
    """Show a PNG inline when running in Jupyter (the tutorials' notebooks).

    Outside IPython (a tutorial run as a script) nothing happens: the script names its files.
    """
    try:
        from IPython import get_ipython
        from IPython.display import Image as InlineImage
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        display(InlineImage(filename=str(path)))
