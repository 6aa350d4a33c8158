"""Elastic deformation and border weight map: speed side by side in one run.

Elastic (image + label, the paper's settings: sigma 10 px, 3 control points per axis,
smooth image interpolation, nearest label):
  - RandCoarseElasticd (this package)
  - elasticdeform.deform_random_grid (order 3 image, order 0 label)
  - torchio.RandomElasticDeformation (4 control points per axis, its minimum; 1 locked border)
  - MONAI Rand2DElasticd / Rand3DElasticd
on a 572x572 image and a 132x132x116 volume.

Weight map: BorderWeightMap's method against the naive one (one distance transform per
object, stacked and sorted) on 512x512 with about 100 touching objects; max difference.

    python benchmarks/bench_transforms.py [--repeats 7] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, write_results  # noqa: E402

from monai_unet2015.transforms import RandCoarseElasticd  # noqa: E402
from monai_unet2015.transforms.weight_map_functional import border_weight_map, border_weight_map_naive  # noqa: E402

CASES = {"2d_572x572": (572, 572), "3d_132x132x116": (132, 132, 116)}


def sample(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.random((1, *shape), dtype=np.float32)
    label = (image > 0.5).astype(np.uint8)
    return image, label


def elastic_candidates(shape, device: torch.device) -> dict:
    image, label = sample(shape)
    spatial_dims = len(shape)
    candidates = {}

    ours = RandCoarseElasticd(
        ["image", "label"],
        sigma=10.0,
        num_control_points=3,
        mode=["bicubic" if spatial_dims == 2 else "bilinear", "nearest"],
    ).set_random_state(seed=0)
    data = {"image": torch.as_tensor(image, device=device), "label": torch.as_tensor(label, device=device)}
    candidates["monai_unet2015.RandCoarseElasticd"] = lambda: ours(data)

    if device.type == "cpu":
        try:
            import elasticdeform

            candidates["elasticdeform.deform_random_grid"] = lambda: elasticdeform.deform_random_grid(
                [image[0], label[0]], sigma=10, points=3, order=[3, 0]
            )
        except ImportError as error:  # pragma: no cover - optional
            print(f"elasticdeform not available: {error}", file=sys.stderr)
        try:
            import torchio

            subject = torchio.Subject(
                image=torchio.ScalarImage(tensor=torch.as_tensor(image if spatial_dims == 3 else image[..., None])),
                label=torchio.LabelMap(tensor=torch.as_tensor(label if spatial_dims == 3 else label[..., None])),
            )
            # torchio needs >= 4 control points per axis (with one locked border); 2D images are a 3D volume of depth 1
            tio = torchio.RandomElasticDeformation(
                num_control_points=4,
                locked_borders=1,
                max_displacement=(30, 30, 30 if spatial_dims == 3 else 0),
                image_interpolation="bspline",
            )
            candidates["torchio.RandomElasticDeformation"] = lambda: tio(subject)
        except ImportError as error:  # pragma: no cover - optional
            print(f"torchio not available: {error}", file=sys.stderr)

    from monai.transforms import Rand2DElasticd, Rand3DElasticd

    if spatial_dims == 2:
        # MONAI's coarsest grid: spacing = size / 3 gives about 6 control points per axis
        monai_elastic = Rand2DElasticd(
            ["image", "label"],
            spacing=(shape[0] // 3, shape[1] // 3),
            magnitude_range=(10, 10),
            prob=1.0,
            mode=["bicubic", "nearest"],
            padding_mode="reflection",
        )
    else:
        monai_elastic = Rand3DElasticd(
            ["image", "label"],
            sigma_range=(20, 20),
            magnitude_range=(100, 100),
            prob=1.0,
            mode=["bilinear", "nearest"],
            padding_mode="reflection",
        )
    monai_elastic.set_random_state(seed=0)
    if device.type == "cuda":
        inner = monai_elastic.rand_2d_elastic if spatial_dims == 2 else monai_elastic.rand_3d_elastic
        inner.set_device(device)
    candidates[f"monai.Rand{spatial_dims}DElasticd"] = lambda: monai_elastic(data)
    return candidates


def touching_objects(shape=(512, 512), count=100, seed=0) -> np.ndarray:
    """Voronoi cells of random seeds, separated by one-pixel background lines."""
    rng = np.random.default_rng(seed)
    seeds = np.stack([rng.integers(0, s, count) for s in shape], -1)
    grid = np.indices(shape).reshape(len(shape), -1).T
    label = (((grid[:, None] - seeds[None]) ** 2).sum(-1).argmin(1) + 1).reshape(shape)
    edge = np.zeros(shape, bool)
    edge[:-1] |= label[:-1] != label[1:]
    edge[:, :-1] |= label[:, :-1] != label[:, 1:]
    label[edge] = 0
    return label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device)

    elastic = []
    for case, shape in CASES.items():
        timings = interleaved_medians(elastic_candidates(shape, device), device, args.repeats)
        ours = timings["monai_unet2015.RandCoarseElasticd"]["median_s"]
        row = {
            "case": case,
            "median_s": {name: round(t["median_s"], 5) for name, t in timings.items()},
            "speedup_of_ours": {name: round(t["median_s"] / ours, 2) for name, t in timings.items()},
            "samples_s": {name: t["samples_s"] for name, t in timings.items()},
        }
        print(json.dumps(row), flush=True)
        elastic.append(row)

    objects = touching_objects()
    timings = interleaved_medians(
        {"fast": lambda: border_weight_map(objects), "naive": lambda: border_weight_map_naive(objects)},
        torch.device("cpu"),
        max(3, args.repeats // 2),
    )
    difference = float(np.abs(border_weight_map(objects) - border_weight_map_naive(objects)).max())
    weight_map = {
        "image": "512x512",
        "objects": int(len(np.unique(objects)) - 1),
        "fast_median_s": round(timings["fast"]["median_s"], 5),
        "naive_median_s": round(timings["naive"]["median_s"], 5),
        "speedup": round(timings["naive"]["median_s"] / timings["fast"]["median_s"], 1),
        "max_abs_difference": difference,
    }
    print(json.dumps(weight_map), flush=True)
    notes = [
        "elastic: all candidates deform the image and the label with one field per call; ours and "
        "elasticdeform use the paper's 3x3(x3) grid with sigma 10 px; torchio's minimum is 4 control points and "
        "it draws uniform displacements; MONAI's Rand2DElastic uses its coarsest grid (about 6 points per axis) "
        "and Rand3DElastic smooths dense noise: equal work per pixel, not equal fields.",
        "2D image interpolation: ours bicubic, elasticdeform cubic spline (order 3), torchio B-spline, MONAI bicubic; "
        "3D: ours trilinear (torch has no tricubic), elasticdeform order 3, MONAI trilinear.",
    ]
    results = {
        "device": str(device),
        "repeats": args.repeats,
        "elastic": elastic,
        "weight_map": weight_map,
        "notes": notes,
    }
    print(f"results: {write_results(f'transforms_{device.type}', results)}")


if __name__ == "__main__":
    main()
