"""The documentation's figures, drawn by the package's own code from real data and results.

Writes PNGs into ``docs/_static/figures/`` (committed; ``tests/test_docs_build.py`` and the
docs build check that every figure a page shows exists and is not blank):

- ``pipeline.png``: scanner -> DICOM node (gate, U-Net, review) -> PACS (the front page);
- ``node_states.png``: the states a series goes through in the DICOM node;
- ``label_loop.png``: the MONAI Label loop (segment, correct, submit, train);
- ``training_checks.png``: what the training data check says about a label off its image
  (generated sample CT, the label drawn where its header puts it);
- ``overlap_tile.png``: the overlap-tile strategy with mirroring, on a real nuclei image;
- ``elastic.png``: the coarse-grid elastic deformation, a grid and the nuclei before and after;
- ``weight_map.png``: the border weight map (eq. 2) of real touching nuclei;
- ``peer_results.png``: the bundle beside nnU-Net on real images, from ``benchmarks/results``;
- ``instances.png``: the cells bundle's objects beside the annotated ones on the held-out real
  nuclei and bacteria, after training as the peer benchmark does (``--train-cells 240``);
- ``ct_overlay.png`` and ``training_curve.png``: the 3D bundle on the real held-out CT, and the
  training loss and validation Dice it logged (TensorBoard), from a run of
  ``benchmarks/review_flag.py --work DIR`` (``--review-work DIR``; left as they are without it).

Real data (fetched by ``benchmarks/real_data.py`` into its cache, never committed): the StarDist
0.9.2 wheel's nuclei (BSD-3-Clause), the TotalSegmentator 2.18.0 source package's CT (Apache-2.0).

Example::

    python scripts/make_figures.py                                   # needs the network once
    python scripts/make_figures.py --review-work /tmp/review_work    # also the CT figures
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.ndimage import affine_transform  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from real_data import NUCLEI_FILES, STARDIST, WHEEL_CACHE, extract, fetch_wheel  # noqa: E402

from monai_unet2015.bundle.cases import training_case_problems  # noqa: E402
from monai_unet2015.data import write_sample_data  # noqa: E402
from monai_unet2015.data.overlay_writer import overlay_slice  # noqa: E402
from monai_unet2015.networks import UNet2015  # noqa: E402
from monai_unet2015.transforms import BorderWeightMap, CoarseElastic  # noqa: E402

FIGURES = ROOT / "docs" / "_static" / "figures"
RESULTS = ROOT / "benchmarks" / "results"
BUNDLE_COLOR, NNUNET_COLOR, OTHER_COLOR = "#0072B2", "#D55E00", "#999999"


def save(figure, name: str) -> Path:
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    print(path)
    return path


def nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The StarDist wheel's real nuclei image (512 x 512) and its instance labels."""
    image_file, mask_file = extract(fetch_wheel(STARDIST, WHEEL_CACHE), NUCLEI_FILES, WHEEL_CACHE / "extracted")
    return np.array(Image.open(image_file), np.float32), np.array(Image.open(mask_file))


def instance_colors(labels: np.ndarray) -> np.ndarray:
    """RGB of an instance map, each object its own colour (neighbours differ), background black."""
    rng = np.random.default_rng(3)
    palette = rng.uniform(0.25, 1.0, (int(labels.max()) + 1, 3))
    palette[0] = 0
    return palette[labels]


# -- diagrams ------------------------------------------------------------------------------


def _box(axis, xy, text, color, width=2.3, height=0.95):
    x, y = xy
    axis.add_patch(
        FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.08", fc=color, ec="black")
    )
    axis.text(x, y, text, ha="center", va="center", fontsize=8.5)


def _arrow(axis, start, end, text="", offset=0.18):
    axis.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="black"))
    if text:
        axis.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + offset, text, ha="center", fontsize=7.5)


def pipeline_figure() -> Path:
    figure, axis = plt.subplots(figsize=(14, 2.9))
    steps = [
        ("CT scanner\nor PACS", "#eeeeee"),
        ("DICOM node\njournal, series\ncomplete?", "#cfe2f3"),
        ("gate\nmodality, spacing,\nplane, HU, region", "#fff2cc"),
        ("3D U-Net\noverlap-tile,\nvalid convolutions", "#d9ead3"),
        ("review\nvolumes, flips,\nimage edge", "#fff2cc"),
        ("SEG, RTSTRUCT,\noverlay, SR\n+ volumes JSON", "#cfe2f3"),
        ("PACS\nviewer", "#eeeeee"),
    ]
    xs = np.arange(len(steps)) * 3.6
    for x, (text, color) in zip(xs, steps):
        _box(axis, (x, 0), text, color)
    labels = ["C-STORE", "", "applicable", "", "", "C-STORE"]
    for x0, x1, label in zip(xs[:-1], xs[1:], labels):
        _arrow(axis, (x0 + 1.25, 0), (x1 - 1.25, 0), label, offset=0.12)
    for step, text in (
        (2, "not applicable:\nno mask, reason in status"),
        (4, "needs review:\nin the report, overlay, status"),
    ):
        x = xs[step]
        axis.annotate(
            text, (x, -0.5), (x, -1.35), ha="center", fontsize=8, arrowprops={"arrowstyle": "<|-", "color": "black"}
        )
    axis.set_xlim(-1.4, xs[-1] + 1.4)
    axis.set_ylim(-1.8, 0.9)
    axis.axis("off")
    axis.set_title("From the scanner to the PACS (not for diagnostic use)", fontsize=11)
    return save(figure, "pipeline.png")


def node_states_figure() -> Path:
    figure, axis = plt.subplots(figsize=(11, 3.6))
    where = {
        "receiving": (0, 0),
        "complete": (2.6, 0),
        "segmented": (5.2, 0),
        "sent": (7.8, 0),
        "not_applicable": (2.6, -1.7),
        "kept": (5.2, -1.7),
        "failed": (7.8, -1.7),
    }
    colors = {"sent": "#d9ead3", "not_applicable": "#fff2cc", "kept": "#fce5cd", "failed": "#f4cccc"}
    for state, xy in where.items():
        _box(axis, xy, state, colors.get(state, "#cfe2f3"), width=1.9, height=0.7)
    edges = [
        ("receiving", "complete", "quiet for\nseries_timeout"),
        ("complete", "segmented", "bundle"),
        ("segmented", "sent", "C-STORE\nstored"),
        ("complete", "not_applicable", ""),
        ("complete", "kept", ""),
        ("segmented", "failed", ""),
    ]
    for start, end, text in edges:
        (x0, y0), (x1, y1) = where[start], where[end]
        if y0 == y1:
            _arrow(axis, (x0 + 0.95, y0), (x1 - 0.95, y1), text, offset=0.5)
        else:
            _arrow(axis, (x0 + (0.3 if x1 > x0 else 0), y0 - 0.35), (x1, y1 + 0.35))
    axis.text(3.1, -0.9, "gate", fontsize=8)
    axis.text(4.1, -1.25, "refused by\nthe bundle", fontsize=8)
    axis.text(6.75, -1.25, "every attempt\nrefused", fontsize=8)
    axis.annotate(
        "",
        (0, 0.35),
        (7.8, 0.35),
        arrowprops={"arrowstyle": "-|>", "connectionstyle": "arc3,rad=0.25", "linestyle": "--", "color": "grey"},
    )
    axis.text(
        3.9,
        1.35,
        "a new instance of a series: a new revision, segmented again",
        ha="center",
        fontsize=8,
        color="dimgrey",
    )
    axis.set_xlim(-1.1, 8.9)
    axis.set_ylim(-2.2, 2.0)
    axis.axis("off")
    return save(figure, "node_states.png")


def label_loop_figure() -> Path:
    """The MONAI Label loop: segment, correct, submit, train, segment with the new model."""
    figure, axis = plt.subplots(figsize=(11, 3.4))
    where = {"slicer": (0, 0), "infer": (4.2, 0.9), "labels": (4.2, -0.9), "train": (8.4, -0.9), "model": (8.4, 0.9)}
    texts = {
        "slicer": ("3D Slicer\nMONAI Label module\n(correct by hand)", "#eeeeee"),
        "infer": ("infer task\nbundle's inference.json\n(overlap-tile)", "#d9ead3"),
        "labels": ("<studies>/labels/final/\nthe corrected labels", "#cfe2f3"),
        "train": ("train task\nbundle's train.json", "#d9ead3"),
        "model": ("models/model.pt\n(the bundle's)", "#cfe2f3"),
    }
    for key, (text, color) in texts.items():
        _box(axis, where[key], text, color, width=2.7, height=1.1)
    _arrow(axis, (1.4, 0.5), (2.8, 1.1), "Auto Segmentation", offset=0.3)
    _arrow(axis, (2.8, 0.7), (1.4, 0.15), "the mask", offset=-0.35)
    _arrow(axis, (1.4, -0.35), (2.8, -0.85), "Submit Label", offset=-0.45)
    _arrow(axis, (5.55, -0.9), (7.05, -0.9), "Train", offset=0.15)
    _arrow(axis, (8.4, -0.3), (8.4, 0.3), "")
    _arrow(axis, (7.05, 0.9), (5.55, 0.9), "next segmentation", offset=0.15)
    axis.set_xlim(-1.5, 9.9)
    axis.set_ylim(-1.7, 1.7)
    axis.axis("off")
    return save(figure, "label_loop.png")


def _label_on_image_grid(label: nib.Nifti1Image, image: nib.Nifti1Image) -> np.ndarray:
    """The label where its own affine puts it, on the image's voxels (nearest neighbour)."""
    image_to_label = np.linalg.inv(label.affine) @ image.affine
    data = np.asarray(label.dataobj)
    return affine_transform(data, image_to_label[:3, :3], image_to_label[:3, 3], output_shape=image.shape, order=0)


def training_checks_figure(work: Path) -> Path:
    """What ``check_training_cases`` says about labels off their image, each drawn where its header puts it
    (the generated sample CT: the check is about geometry, not anatomy)."""
    write_sample_data(work, num_ct=2, num_mri=0, num_cells=0, dicom=False)
    image_path = sorted((work / "ct" / "imagesTr").glob("*.nii.gz"))[0]
    image = nib.load(image_path)
    label = nib.load(work / "ct" / "labelsTr" / image_path.name)
    data = np.asarray(label.dataobj)
    shifted = label.affine.copy()
    shifted[0, 3] += 10.0
    first_axis_reversed = np.diag([-1.0, 1.0, 1.0, 1.0])
    first_axis_reversed[0, 3] = data.shape[0] - 1
    variants = [
        ("as written", label, ""),
        ("header 10 mm off", nib.Nifti1Image(data, shifted, label.header), ""),
        ("stored flipped, header too", nib.Nifti1Image(data[::-1], label.affine @ first_axis_reversed), ""),
        (
            "voxels mirrored, header unchanged",
            nib.Nifti1Image(data[::-1], label.affine),
            ": no header check can see this; look at an overlay",
        ),
    ]
    figure, axes = plt.subplots(1, len(variants), figsize=(17, 4.6))
    middle = image.shape[2] // 2
    for index, (axis, (title, variant, note)) in enumerate(zip(axes, variants)):
        path = work / f"label_{index}.nii.gz"
        nib.save(variant, path)
        problems = training_case_problems([{"image": str(image_path), "label": str(path)}], num_classes=4)
        verdict = ("accepted" if not problems else "refused: " + problems[0].split(": ", 1)[1]) + note
        axis.imshow(np.asarray(image.dataobj)[:, :, middle].T, cmap="gray", vmin=-160, vmax=240, origin="lower")
        axis.contour(_label_on_image_grid(variant, image)[:, :, middle].T, levels=[0.5, 1.5, 2.5], colors="#ffcc00")
        axis.set_title(f"label: {title}", fontsize=10)
        axis.set_xlabel("\n".join(textwrap.wrap(verdict, 44)), fontsize=8, color="#b00000" if problems else "black")
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("Training data checked before the first epoch (check_training_cases)", fontsize=11)
    return save(figure, "training_checks.png")


# -- the paper's parts on real nuclei ------------------------------------------------------------


def overlap_tile_figure(image: np.ndarray) -> Path:
    """Output tiles of the paper's 2D U-Net over a nuclei crop, one input tile and the mirrored border."""
    net = UNet2015(2, 1, 2)  # the paper's net: 4 poolings, valid 3 x 3 convolutions
    tile = net.input_size(100)[0]  # the smallest input tile whose output covers 100 px
    out = net.output_size(tile)[0]
    margin = (tile - out) // 2
    crop = image[:256, :256]
    padded = np.pad(crop, margin, mode="reflect")
    figure, axis = plt.subplots(figsize=(6.4, 6.4))
    axis.imshow(padded, cmap="gray", vmax=np.percentile(padded, 99.5))
    axis.add_patch(Rectangle((margin - 0.5, margin - 0.5), 256, 256, fill=False, ec="white", lw=1.5, ls="--"))
    for row in range(margin, margin + 256, out):
        for col in range(margin, margin + 256, out):
            axis.add_patch(Rectangle((col - 0.5, row - 0.5), out, out, fill=False, ec="yellow", lw=0.6))
    axis.add_patch(Rectangle((-0.5, -0.5), tile, tile, fill=False, ec="#56B4E9", lw=2.2))
    axis.add_patch(
        Rectangle((margin - 0.5, margin - 0.5), out, out, fill=True, fc="#E69F00", alpha=0.45, ec="#E69F00", lw=2.2)
    )
    axis.set_title(
        f"Overlap-tile: the input tile (blue, {tile} px) gives the output tile (orange, {out} px);\n"
        f"past the image (dashed) the input is mirrored ({margin} px)",
        fontsize=9,
    )
    axis.axis("off")
    return save(figure, "overlap_tile.png")


def elastic_figure(image: np.ndarray) -> Path:
    crop = image[128:384, 128:384][None]
    grid = np.ones((1, 256, 256), np.float32)
    grid[:, ::16, :] = 0
    grid[:, :, ::16] = 0
    displacements = np.random.default_rng(4).normal(0, 10, (2, 3, 3))  # the paper: 3 x 3, sigma 10 px
    deform = CoarseElastic(displacements)
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    for axis, picture, title in zip(
        axes,
        (grid[0], np.asarray(deform(grid))[0], crop[0], np.asarray(deform(crop))[0]),
        ("a grid", "deformed", "real nuclei", "deformed with the same field"),
    ):
        axis.imshow(picture, cmap="gray")
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    points = np.linspace(0, 255, 3)
    for i, y in enumerate(points):
        for j, x in enumerate(points):
            axes[1].annotate(
                "",
                (x + displacements[1, i, j] * 3, y + displacements[0, i, j] * 3),
                (x, y),
                arrowprops={"arrowstyle": "->", "color": "#D55E00", "lw": 1.5},
            )
    figure.suptitle("Elastic deformation on a coarse grid: 3 x 3 control points, sigma 10 px (arrows x3)", fontsize=10)
    return save(figure, "elastic.png")


def weight_map_figure(image: np.ndarray, labels: np.ndarray) -> Path:
    rows, cols = slice(160, 352), slice(128, 384)  # touching nuclei in the middle
    label = labels[rows, cols]
    weight = np.asarray(BorderWeightMap()(label[None].astype(np.int64)))[0]
    crop = image[rows, cols]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].imshow(crop, cmap="gray", vmax=np.percentile(crop, 99.5))
    axes[0].set_title("real nuclei (StarDist / DSB 2018)", fontsize=9)
    axes[1].imshow(instance_colors(label))
    axes[1].set_title(f"their {len(np.unique(label)) - 1} annotated objects", fontsize=9)
    shown = axes[2].imshow(weight, cmap="magma")
    axes[2].set_title(r"weight map (eq. 2): $w_c + w_0\,\exp(-(d_1+d_2)^2 / 2\sigma^2)$", fontsize=9)
    figure.colorbar(shown, ax=axes[2], fraction=0.035)
    for axis in axes:
        axis.axis("off")
    return save(figure, "weight_map.png")


# -- results ------------------------------------------------------------------------------------


def _runs(name: str, dataset: str) -> list[dict]:
    return json.loads((RESULTS / name).read_text())[dataset]["runs"]


def _spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _bars(
    axis,
    groups: list[str],
    series: dict[str, list[list[float]]],
    colors: dict[str, str],
    ylabel: str,
):
    width = 0.8 / len(series)
    for index, (name, per_group) in enumerate(series.items()):
        stats = [_spread(values) for values in per_group]
        x = np.arange(len(groups)) + (index - (len(series) - 1) / 2) * width
        medians = [s[0] for s in stats]
        errors = [[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]]
        axis.bar(x, medians, width, yerr=errors, capsize=3, color=colors[name], label=name)
    axis.set_xticks(np.arange(len(groups)), groups, fontsize=8)
    # the legend in a band above 1, where no bar reaches
    axis.set_ylim(0, 1.16)
    axis.set_yticks(np.linspace(0, 1, 6))
    axis.set_ylabel(ylabel, fontsize=8)
    axis.legend(fontsize=7, loc="upper center", ncol=len(series), frameon=False, columnspacing=0.6, handlelength=1.0)


def _objects_by_budget(runs: list[dict], tool: str) -> list[list[float]]:
    budgets = sorted({r["budget_s"] for r in runs})
    return [[r[tool]["f1_iou0.5"] for r in runs if r["budget_s"] == b] for b in budgets]


def peer_results_figure() -> Path:
    nuclei_runs = _runs("peer_nnunet_nuclei_cpu.json", "nuclei")
    bacteria_runs = _runs("peer_nnunet_bacteria_cpu.json", "bacteria") + [
        run for seed in range(3) for run in _runs(f"peer_nnunet_bacteria_720s_s{seed}_cpu.json", "bacteria")
    ]
    ct_runs = _runs("peer_nnunet_abdomen_ct_cpu.json", "abdomen_ct") + _runs(
        "peer_nnunet_abdomen_ct_seeds12_cpu.json", "abdomen_ct"
    )
    mri_runs = _runs("peer_nnunet_mri_2d_cpu.json", "brain_mri")
    colors = {
        "bundle": BUNDLE_COLOR,
        "nnU-Net (mirrored)": NNUNET_COLOR,
        "nnU-Net 2d": NNUNET_COLOR,
        "nnU-Net 3d_fullres": OTHER_COLOR,
    }
    figure, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for axis, runs, title in ((axes[0], nuclei_runs, "nuclei"), (axes[1], bacteria_runs, "bacteria")):
        budgets = [f"{b:g} s" for b in sorted({r["budget_s"] for r in runs})]
        series = {
            "bundle": _objects_by_budget(runs, "bundle"),
            "nnU-Net (mirrored)": _objects_by_budget(runs, "nnunet_mirrored"),
        }
        _bars(axis, budgets, series, colors, "object F1 at IoU 0.5")
        axis.set_title(f"{title}: objects, by training budget", fontsize=9)
    for axis, runs, classes, title in (
        (axes[2], mri_runs, ["grey", "white"], "T1 brain, 330 s, 1 seed"),
        (axes[3], ct_runs, ["liver", "spleen", "stomach"], f"abdominal CT, 330 s, {len(ct_runs)} seeds"),
    ):
        series = {
            "bundle": [[r["bundle"]["dice"][c] for r in runs] for c in classes],
            "nnU-Net 2d": [[r["nnunet"]["2d"]["mirrored"]["dice"][c] for r in runs] for c in classes],
            "nnU-Net 3d_fullres": [[r["nnunet"]["3d_fullres"]["mirrored"]["dice"][c] for r in runs] for c in classes],
        }
        _bars(axis, classes, series, colors, "Dice")
        axis.set_title(title, fontsize=9)
    figure.suptitle(
        "Beside nnU-Net v2 on real held-out images, same CPU budget (2 cores); median, min..max over seeds", fontsize=10
    )
    return save(figure, "peer_results.png")


# -- the 3D bundle on the real CT (from a benchmarks/review_flag.py run) ----------------------------


def ct_overlay_figure(review_work: Path) -> Path:
    image = nib.as_closest_canonical(nib.load(review_work / "cases" / "held_out_patient" / "imagesTr" / "case.nii.gz"))
    seg = nib.as_closest_canonical(nib.load(review_work / "out" / "held_out_patient" / "case_seg.nii.gz"))
    mask = np.asarray(seg.dataobj)
    report = json.loads((review_work / "out" / "held_out_patient" / "case_volumes.json").read_text())
    names = {s["value"]: s["name"] for s in report["structures"]}
    volumes = {s["value"]: s["volume_ml"] for s in report["structures"]}
    z = int(np.argmax((mask > 0).sum(axis=(0, 1))))
    hu = np.asarray(image.dataobj, np.float32)[:, :, z]
    grey = (np.clip((hu + 160) / 400, 0, 1) * 255).astype(np.uint8)
    legend = [f"{names[v]}: {volumes[v]:.0f} mL" for v in sorted(names)]

    # RAS+ arrays: x to the patient's right, y to the front; the radiological view has the front at the
    # top and the patient's right on the viewer's left
    def radiological(plane):
        return np.ascontiguousarray(plane.T[::-1, ::-1])

    reasons = report["review"]["reasons"][:3]
    rgb = overlay_slice(radiological(grey), radiological(mask[:, :, z]), names, legend, reasons)
    figure, axis = plt.subplots(figsize=(6.4, 6.6))
    axis.imshow(rgb)
    axis.set_title(
        "The 3D bundle on the real held-out CT after 330 s of training on one other patient, as the overlay\n"
        "series is written: the liver found, the spleen (right of the image) taken for liver; the review flags it",
        fontsize=9,
    )
    axis.axis("off")
    return save(figure, "ct_overlay.png")


def _scalars(logs: Path, tag: str) -> tuple[list[int], list[float]]:
    """One scalar's steps and values from a bundle run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for path in sorted(logs.glob("events.out.tfevents.*")):
        events = EventAccumulator(str(path))
        events.Reload()
        if tag in events.Tags()["scalars"]:
            scalars = events.Scalars(tag)
            return [s.step for s in scalars], [s.value for s in scalars]
    raise FileNotFoundError(f"no {tag} in {logs}")


def training_curve_figure(review_work: Path) -> Path:
    """The training loss and validation Dice the 3D bundle logged (TensorBoard) in the benchmark's run."""
    (logs,) = sorted(review_work.glob("unet3d_ct_organs_*/logs"))
    epochs, losses = _scalars(logs, "train_loss")
    checks, dice = _scalars(logs, "val_mean_dice")
    figure, axis = plt.subplots(figsize=(7.5, 3.2))
    axis.plot(epochs, losses, color=BUNDLE_COLOR, lw=0.8, label="training loss (Dice + CE)")
    axis.set_xlabel("epoch (one step on the training patient)")
    axis.set_ylabel("loss")
    right = axis.twinx()
    right.plot(checks, dice, "o-", color=NNUNET_COLOR, ms=3, label="validation mean Dice")
    right.set_ylim(0, 1)
    right.set_ylabel("mean Dice")
    axis.set_title(
        f"The 3D bundle's own log of 330 s on 2 CPU cores ({len(epochs)} epochs); with one training\n"
        "patient its validation is that patient (nothing to hold out): it says nothing of a new patient",
        fontsize=9,
    )
    figure.legend(loc="upper right", bbox_to_anchor=(0.88, 0.8), fontsize=8)
    axis.grid(alpha=0.3)
    return save(figure, "training_curve.png")


def instances_figure(work: Path, budget_s: float) -> Path:
    """The cells bundle trained ``budget_s`` on the real nuclei and on the real bacteria (the peer benchmark's
    plan, preset, split and seed 0), its objects beside the annotated ones on each held-out image."""
    from peer_nnunet import bundle_segment, bundle_train
    from real_data import write_bacteria, write_nuclei

    from monai_unet2015.bundle.figure import INSTANCES, overlay_figure
    from monai_unet2015.planning.write import write_plan

    rows = []
    for name, write in (("nuclei", write_nuclei), ("bacteria", write_bacteria)):
        dataset = write(work / "real")
        test = dataset.parent / f"{name}_test"
        output = work / name / f"unet2015_cells_2d_b{budget_s:g}_s0_out"  # bundle_segment's folder
        if not output.is_dir():  # an earlier run's segmentation is drawn again as it is
            plan = work / f"{name}_plan.json"
            write_plan(dataset, plan, device="cpu", overwrite=True, time_budget_s=budget_s, estimate=False)
            trained = bundle_train({"bundle": "unet2015_cells_2d"}, dataset, work / name, plan, budget_s, 0, {})
            output = bundle_segment(trained, test / "imagesTr", plan, {})["output"]
        image_path = sorted((test / "imagesTr").glob("*.tif"))[-1]
        truth = np.array(Image.open(test / "labelsTr" / image_path.name))
        found = np.array(Image.open(next(output.rglob(f"{image_path.stem}_instances.png"))))
        counts = f"{len(np.unique(truth)) - 1} annotated, {len(np.unique(found)) - 1} found"
        title = f"real {name}, held out ({counts}; {budget_s:g} s of training)"
        rows.append((title, np.array(Image.open(image_path), np.float32), truth, found, INSTANCES))
    path = overlay_figure(rows, FIGURES / "instances.png", width=1200)
    print(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--review-work", type=Path, default=None, help="a benchmarks/review_flag.py --work folder")
    parser.add_argument(
        "--train-cells",
        type=float,
        default=None,
        metavar="SECONDS",
        help="train the cells bundle this long on the "
        "real nuclei and bacteria for instances.png (the peer benchmark's 240 s)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/make_figures"), help="where that training goes")
    args = parser.parse_args()
    pipeline_figure()
    node_states_figure()
    label_loop_figure()
    training_checks_figure(args.work / "training_checks")
    peer_results_figure()
    image, labels = nuclei()
    overlap_tile_figure(image)
    elastic_figure(image)
    weight_map_figure(image, labels)
    if args.review_work is not None:
        ct_overlay_figure(args.review_work)
        training_curve_figure(args.review_work)
    if args.train_cells is not None:
        instances_figure(args.work, args.train_cells)


if __name__ == "__main__":
    main()
