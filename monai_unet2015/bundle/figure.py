"""Side-by-side PNG figures (image | ground truth | prediction) without a plotting library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["overlay_figure", "display_figure"]

_COLOURS = np.array([[0, 0, 0], [230, 80, 60], [70, 160, 230], [250, 200, 40], [120, 220, 120]], np.float32)


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1, 99))
    scaled = np.clip((image - low) / max(high - low, 1e-6), 0, 1)
    return np.repeat((scaled * 255)[..., None], 3, axis=-1)


def _overlay(grey: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    colours = _COLOURS[np.clip(labels.astype(int), 0, len(_COLOURS) - 1)]
    mixed = np.where(labels[..., None] > 0, (1 - alpha) * grey + alpha * colours, grey)
    return mixed.astype(np.uint8)


def overlay_figure(
    rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: str | Path, scale: int = 2
) -> Path:
    """Write one row per ``(title, image, truth, prediction)`` (2D arrays, rows x columns).

    Columns: the image, the ground truth over it, the prediction over it; label values
    are coloured (1 red, 2 blue, 3 yellow, ...).
    """
    panels = []
    for title, image, truth, prediction in rows:
        grey = _grey(image.astype(np.float32))
        row = np.concatenate([grey.astype(np.uint8), _overlay(grey, truth), _overlay(grey, prediction)], axis=1)
        picture = Image.fromarray(row).resize((row.shape[1] * scale, row.shape[0] * scale), Image.NEAREST)
        canvas = Image.new("RGB", (picture.width, picture.height + 18), "white")
        canvas.paste(picture, (0, 18))
        ImageDraw.Draw(canvas).text((4, 3), f"{title}: image | ground truth | prediction", fill="black")
        panels.append(canvas)
    width = max(p.width for p in panels)
    figure = Image.new("RGB", (width, sum(p.height for p in panels)), "white")
    top = 0
    for panel in panels:
        figure.paste(panel, (0, top))
        top += panel.height
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
