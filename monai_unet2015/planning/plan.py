"""From a dataset's fingerprint to a plan: the bundle settings that suit the data and the machine.

A plan is a flat JSON object of bundle options, the file MONAI's bundle runner takes as
``--args_file``, so one plan serves ``python -m monai.bundle run``, torchrun and MONAI Label
(``--conf plan FILE``) alike. The rules, each from the fingerprint (the measurements that
chose them are in ``CHANGELOG.md`` and ``benchmarks/results/``):

- **bundle**: 2D data -> ``unet2015_cells_2d``, 3D -> ``unet3d_ct_organs``.
- **modality** (3D): CT when the images reach below -500 (air in HU), else MRI.
- **in_channels**: the image channels, where they are not 1 (every case has the same).
- **num_classes**: the largest label value + 1 (2D instance labels: foreground / background).
- **pixdim** (3D): the median spacing (nnU-Net's rule); on ``device="cpu"`` coarsened
  until the median case has at most :data:`CPU_VOXELS` voxels, the finest axes first (thin
  pixels coarsen towards the slice spacing before the slices coarsen).
- **mri_method** (MRI): ``"dataset"`` (every volume normalised by the dataset's foreground
  mean and std, ``mri_stats``) where the cases share an intensity scale (each class's
  median intensity within :data:`SHARED_SCALE` across cases, as in one scanner's study),
  else the per-volume z-score, which moves with what a volume holds.
- **ct_window** (CT): the 0.5 and 99.5 percentiles of the intensities inside the labels
  (nnU-Net's CT clipping), instead of a fixed abdominal window.
- **min_object_size** (2D): half the 5th percentile of the true objects' sizes, so
  that specks far smaller than any real object are dropped from the instance output.
- **split_distance** (2D instance labels): the distance between object centres at which
  the instance output splits touching objects (:func:`~monai_unet2015.transforms.split_touching`),
  the one that best recovers the training instances from their own masks (object F1); not
  set (the connected components) where they recover them at least as well as any split, as
  for rod-shaped bacteria, which a distance-transform split cuts into pieces.
- **val_fraction**: 0 (train on every case, validate on the same ones, nnU-Net's fold
  "all") for fewer than :data:`MIN_CASES_TO_HOLD_OUT` labelled cases, where holding one
  out costs more training data than its one-image validation score is worth.
- **max_epochs**, **val_interval**: about :data:`ITERATIONS` training iterations for the
  device (batch size 1, one iteration per training case per epoch), ten validations.
- **time_budget_s** (only with ``time_budget_s=``, ``plan --time-budget SECONDS``): the
  user's time cap instead of an iteration count. Training stops at the first epoch end after
  that many seconds, the poly learning rate decays over them, and ``max_epochs`` is lifted
  to :data:`UNCAPPED_EPOCHS` so that the cap alone ends the run (how the peer benchmark
  trains both tools). The validations keep the spacing of the iteration rule above.
- **crop_ratios** (3D): where a foreground class covers under :data:`SMALL_CLASS_SHARE` of
  the labelled voxels, training tiles are centred on each class present equally often
  (:func:`~monai_unet2015.transforms.training_tile_crop`) instead of anywhere (nnU-Net
  forces a third of its samples onto foreground for the same reason); classes absent from
  the data get 0. Large classes keep uniform tiles.
- **class_weights**, **dice_weight** (3D, with ``crop_ratios``): every class weighted 1 and
  the Dice term on (nnU-Net's Dice + CE), instead of the class-balanced CE: class-centred
  tiles already show the small class often, and inverse-frequency weights would weigh it
  again.
- **roi_size** (3D): the preset's tile volume, its sides in proportion to 1 / pixdim so
  that a tile covers about as many mm on every axis, each side the nearest valid size at or
  below. On the CPU the tile then grows (up to :data:`MAX_TILE_GROWTH` times that volume)
  until the net's output is at least :data:`MIN_OUTPUT_SHARE` of it: the CPU net's valid
  convolutions take 40 voxels off each axis, so a 60^3 tile has an output of 20^3 (3.7% of
  the tile reaches the loss), a 76^3 tile 36^3 (10.6%). The GPU preset keeps its volume.
- **preset**: the bundle's ``configs/<device>.json`` to merge (network width and tile size).

Intensity for 2D needs no plan: the bundle scales each image by its own percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from monai_unet2015.networks import UNet2015
from monai_unet2015.options import option
from monai_unet2015.planning.fingerprint import NO_SPLIT, NOT_ANNOTATED

__all__ = [
    "make_plan",
    "CPU_VOXELS",
    "ITERATIONS",
    "UNCAPPED_EPOCHS",
    "BUNDLE_FOR_DIMS",
    "SHARED_SCALE",
    "SMALL_CLASS_SHARE",
    "MIN_OUTPUT_SHARE",
    "MAX_TILE_GROWTH",
]

BUNDLE_FOR_DIMS = {2: "unet2015_cells_2d", 3: "unet3d_ct_organs"}
CPU_VOXELS = 400_000
SHARED_SCALE = 0.1
# A 3D foreground class below this share of the voxels gets class-centred training tiles, and
# the loss that goes with them (see crop_ratios in the module docstring).
SMALL_CLASS_SHARE = 0.05
# The 3D tile is grown until the valid convolutions' output is at least this share of it (see roi_size).
MIN_OUTPUT_SHARE = 0.1
# ... but to at most this many times the preset's tile volume (thin slices would need far more).
MAX_TILE_GROWTH = 2.0

ITERATIONS = {"cpu": {2: 1500, 3: 500}, "gpu": {2: 10_000, 3: 4000}}
# max_epochs under a time budget: a cap no run reaches, so the budget alone ends training.
UNCAPPED_EPOCHS = 1_000_000
# Fewer labelled cases than this: no case is held out for validation (see val_fraction above).
MIN_CASES_TO_HOLD_OUT = 5
_DEVICES = ("cpu", "gpu")
# The 3D bundle's preset that runs the 2D U-Net on each slice (configs/slices.json, UNet2015Slices).
SLICES_PRESET = "slices"
_CT_AIR = -500.0


def make_plan(
    fingerprint: dict,
    device: str = "cpu",
    val_fraction: float = 0.2,
    time_budget_s: float | None = None,
    preset: str | None = None,
    presets: Mapping[str, Mapping] | None = None,
) -> dict:
    """The bundle options for a dataset with this fingerprint (:func:`dataset_fingerprint`).

    Args:
        fingerprint: from :func:`~monai_unet2015.planning.dataset_fingerprint`.
        device: ``"cpu"`` or ``"gpu"``: the preset, the training length and (3D) the spacing.
        val_fraction: the bundles' validation share, for the iterations per epoch.
        time_budget_s: train for this many seconds (the bundles' ``time_budget_s``) instead of
            :data:`ITERATIONS` iterations; None (default): the iteration count.
        preset: the bundle preset to plan for: None (default) is ``device``'s; ``"slices"``
            (3D only) is the 2D U-Net on each slice (``configs/slices.json``): the median
            spacing kept in-plane and along z, and the preset's tile as it is.
        presets: the 3D bundle's presets, ``{name: {"features": [...], "roi_size": [...]}}``
            (:func:`~monai_unet2015.bundle.locations.bundle_presets` reads the shipped ones);
            needed for 3D data, where the tile is planned from the preset's.

    Returns:
        ``{"bundle": ..., "preset": ..., "options": {...}}``; ``options`` is the ``--args_file``.

    Example::

        >>> fingerprint = {"spatial_dims": 3, "num_cases": 10, "median_shape": [200, 200, 100],
        ...     "median_spacing": [0.8, 0.8, 2.5], "classes": {"0": 0.9, "1": 0.1},
        ...     "intensity": {"all": {"min": -1024.0}, "foreground": {"p0.5": -90.0, "p99.5": 210.0}}}
        >>> presets = {"gpu": {"features": [32, 64, 128, 256], "roi_size": [132, 132, 116]}}
        >>> plan = make_plan(fingerprint, "gpu", presets=presets)
        >>> plan["options"]["modality"], plan["options"]["pixdim"], plan["options"]["ct_window"]
        ('ct', [0.8, 0.8, 2.5], [-90.0, 210.0])
    """
    device = option("device", device, _DEVICES)
    if time_budget_s is not None and (
        not isinstance(time_budget_s, (int, float)) or isinstance(time_budget_s, bool) or not time_budget_s > 0
    ):
        raise ValueError(f"time_budget_s must be a number of seconds > 0 or None, got {time_budget_s!r}.")
    dims = fingerprint["spatial_dims"]
    if dims not in BUNDLE_FOR_DIMS:
        raise ValueError(f"fingerprint spatial_dims must be 2 or 3, got {dims!r}.")
    preset = device if preset is None else option("preset", preset, (*_DEVICES, SLICES_PRESET))
    if preset == SLICES_PRESET and dims != 3:
        raise ValueError(f"preset {SLICES_PRESET!r} is for 3D data (the 2D U-Net on each slice); this dataset is 2D.")
    options: dict = {}
    if fingerprint["num_cases"] < MIN_CASES_TO_HOLD_OUT:
        options["val_fraction"] = val_fraction = 0.0
    held_out = 0 if val_fraction == 0 else max(1, round(fingerprint["num_cases"] * val_fraction))
    num_train = max(1, fingerprint["num_cases"] - held_out)
    max_epochs = max(10, math.ceil(ITERATIONS[device][dims] / num_train))
    options.update(max_epochs=max_epochs, val_interval=max(1, max_epochs // 10))
    if time_budget_s is not None:
        options.update(max_epochs=UNCAPPED_EPOCHS, time_budget_s=float(time_budget_s))
    labels = [int(value) for value in fingerprint["classes"]]
    if fingerprint.get("channels", [1]) != [1]:
        options["in_channels"] = fingerprint["channels"][0]
    if dims == 2:
        options["num_classes"] = 2
        if fingerprint.get("object_sizes", {}).get("count"):
            options["min_object_size"] = max(1, int(fingerprint["object_sizes"]["p5"] // 2))
        split_distance = _split_distance(fingerprint.get("split_distance_f1") or {})
        if split_distance is not None:
            options["split_distance"] = split_distance
    else:
        options["num_classes"] = _num_classes(labels)
        ct = fingerprint["intensity"]["all"]["min"] < _CT_AIR
        options["modality"] = "ct" if ct else "mri"
        slices = preset == SLICES_PRESET
        options["pixdim"] = _spacing(
            fingerprint["median_spacing"], fingerprint["median_shape"], "gpu" if slices else device
        )
        ratios = _crop_ratios(fingerprint["classes"], options["num_classes"])
        if ratios is not None:
            # Dice + CE with every class weighted 1: class-centred tiles already balance the classes
            options.update(crop_ratios=ratios, class_weights=[1.0] * options["num_classes"], dice_weight=1.0)
        settings = _preset(presets, preset)
        options["roi_size"] = settings["roi_size"] if slices else _planned_tile(settings, options["pixdim"], device)
        foreground = fingerprint["intensity"]["foreground"]
        if ct:
            options["ct_window"] = [round(foreground["p0.5"], 1), round(foreground["p99.5"], 1)]
        elif _shared_scale(fingerprint["intensity"].get("class_medians_per_case", [])):
            options["mri_method"] = "dataset"
            options["mri_stats"] = [round(foreground["mean"], 4), round(foreground["std"], 4)]
    return {"bundle": BUNDLE_FOR_DIMS[dims], "preset": preset, "options": options}


def _split_distance(scores: dict[str, float]) -> int | None:
    """The best-scoring split distance of ``split_distance_f1``; None where no split scores as well.

    On a tie the smaller distance wins, and no split (:data:`~.fingerprint.NO_SPLIT`, the
    connected components) wins over any distance.
    """
    distances = {int(key): score for key, score in scores.items() if key != NO_SPLIT}
    if not distances:
        return None
    best = min(distances, key=lambda distance: (-distances[distance], distance))
    if NO_SPLIT in scores and scores[NO_SPLIT] >= distances[best]:
        return None
    return best


def _crop_ratios(classes: dict[str, float], num_classes: int) -> list[float] | None:
    """One weight per class present (0 for an absent one) where a foreground class is small, else None."""
    shares = {int(value): share for value, share in classes.items() if 0 < int(value) < num_classes}
    if not shares or min(shares.values()) >= SMALL_CLASS_SHARE:
        return None
    present = {int(value) for value in classes}
    return [1.0 if c in present else 0.0 for c in range(num_classes)]


def _shared_scale(class_medians_per_case: list[dict]) -> bool:
    """Whether every class's median intensity lies within SHARED_SCALE of its mean over the cases."""
    classes = {name for case in class_medians_per_case for name in case}
    if len(class_medians_per_case) < 2 or not classes:
        return False
    for name in classes:
        medians = [case[name] for case in class_medians_per_case if name in case]
        mean = sum(medians) / len(medians)
        if len(medians) < 2 or not mean > 0 or (max(medians) - min(medians)) / mean > SHARED_SCALE:
            return False
    return True


def _preset(presets: Mapping[str, Mapping] | None, name: str) -> Mapping:
    """The settings of preset ``name``; ``ValueError`` where the caller gave none for it."""
    if not presets or name not in presets:
        raise ValueError(
            f"a 3D plan needs the 3D bundle's preset {name!r} (features and roi_size): pass presets=, e.g. "
            "monai_unet2015.bundle.locations.bundle_presets('unet3d_ct_organs')."
        )
    return presets[name]


def _planned_tile(preset: dict, pixdim: list[float], device: str) -> list[int]:
    """The preset tile's volume spread by :func:`_isotropic_tile`; on the CPU grown (by 10%
    steps, up to :data:`MAX_TILE_GROWTH` times the volume) until its output is at least
    :data:`MIN_OUTPUT_SHARE` of it."""
    net = UNet2015(3, 1, 1, features=preset["features"])
    volume = float(math.prod(preset["roi_size"]))
    tile = _isotropic_tile(net, volume, pixdim)
    if device != "cpu":
        return tile
    largest = MAX_TILE_GROWTH * volume
    while math.prod(net.output_size(tile)) < MIN_OUTPUT_SHARE * math.prod(tile):
        volume *= 1.1
        grown = _isotropic_tile(net, volume, pixdim)
        if math.prod(grown) > largest:
            break
        tile = grown
    return tile


def _isotropic_tile(net: UNet2015, volume: float, pixdim: list[float]) -> list[int]:
    """A tile of about ``volume`` voxels with sides in proportion to 1 / pixdim, each a valid size (at or below).

    An axis whose share would be below the smallest valid size gets that size, and the other
    axes share what is left of the volume.
    """
    smallest = net.nearest_valid_input_sizes(1)[0][1]
    budget, fixed = volume, {}
    while True:
        free = [axis for axis in range(3) if axis not in fixed]
        scale = (budget / math.prod(fixed.values()) * math.prod(pixdim[a] for a in free)) ** (1 / len(free))
        wanted = {axis: scale / pixdim[axis] for axis in free}
        too_small = [axis for axis in free if wanted[axis] < smallest]
        if not too_small or len(free) == 1:
            break
        fixed.update(dict.fromkeys(too_small, smallest))
    sizes = [fixed.get(axis, max(smallest, round(wanted.get(axis, smallest)))) for axis in range(3)]
    return [below if below is not None else above for below, above in net.nearest_valid_input_sizes(sizes)]


def _spacing(spacing: list[float], shape: list[int], device: str) -> list[float]:
    """The median spacing; on the CPU, its finest axes coarsened first until the median case has <= CPU_VOXELS.

    Each axis gets ``max(its spacing, floor)`` with the smallest ``floor`` that fits: thin
    in-plane pixels coarsen towards the slice spacing before the slices do (nnU-Net's
    ``3d_lowres`` rule), so 0.6 x 0.6 x 5 mm CT becomes about 4 x 4 x 5 mm, not 2 x 2 x 17
    mm, where a 15 mm lesion would fall between two slices. Isotropic data coarsen evenly.
    """
    if device != "cpu" or math.prod(shape) <= CPU_VOXELS:
        return [round(s, 3) for s in spacing]
    extents = [n * s for n, s in zip(shape, spacing)]

    def voxels(floor: float) -> float:
        return math.prod(extent / max(s, floor) for extent, s in zip(extents, spacing))

    low, high = min(spacing), max(extents)  # voxels(low) > CPU_VOXELS >= voxels(high)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if voxels(middle) > CPU_VOXELS else (low, middle)
    return [round(max(s, high), 2) for s in spacing]


def _num_classes(labels: list[int]) -> int:
    """The largest class id + 1.

    A class without a voxel in any case is fine (its tiles get ratio 0), but where more ids
    below the largest have no voxel than have one (0 / 1000, say), the values are not class
    ids, and the plan says so (``ValueError``) rather than plan 1001 classes.
    """
    classes = sorted(set(labels) - {NOT_ANNOTATED})
    missing = sorted(set(range(max(classes) + 1)) - set(classes))
    if len(missing) > len(classes) - 1:
        raise ValueError(
            f"label values {classes} are not the class ids 0..{max(classes)}: no case has a voxel of "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}, so num_classes would be {max(classes) + 1}. "
            f"Relabel to 0..{len(classes) - 1} ({NOT_ANNOTATED} stays 'not annotated')."
        )
    return max(classes) + 1
