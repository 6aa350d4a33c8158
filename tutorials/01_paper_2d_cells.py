# %% [markdown]
# # The 2015 U-Net paper on 2D cells
#
# The two training-data ideas of Ronneberger et al. (2015), shown as pictures, then trained and
# applied: the **border weight map** that makes the net separate touching cells, the **coarse
# elastic deformation**, training with and without the weight map, and **overlap-tile
# inference with mirroring** on an image larger than a tile.
#
# Run it as a script (`python tutorials/01_paper_2d_cells.py [--quick] [--output-dir DIR]`) or
# open it in Jupyter with jupytext. Figures are written as PNG files to the output folder.

# %%
import argparse
import sys

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from monai_unet2015.bundle.figure import INSTANCES, display_figure, overlay_figure
from monai_unet2015.data import touching_cells_2d
from monai_unet2015.engines import create_trainer, paper_optimizer
from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.networks import UNet2015
from monai_unet2015.transforms import BorderWeightMap, RandCoarseElastic

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a few iterations only (CI)")
parser.add_argument("--output-dir", default="tutorial_output/01")
args, _ = parser.parse_known_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])
from pathlib import Path  # noqa: E402

out = Path(args.output_dir)
out.mkdir(parents=True, exist_ok=True)
iterations = 40 if args.quick else 800
torch.manual_seed(0)


def save_grey(array: np.ndarray, name: str) -> None:
    low, high = np.percentile(array, (1, 99))
    scaled = np.clip((array - low) / max(high - low, 1e-6), 0, 1)
    path = out / name
    Image.fromarray((scaled * 255).astype(np.uint8)).save(path)
    display_figure(path)


# %% [markdown]
# ## Touching cells and their border weight map
# `w(x) = w_c(x) + w0 exp(-(d1 + d2)^2 / (2 sigma^2))`: large in the thin gaps between cells.

# %%
image, instances = touching_cells_2d((256, 256), num_cells=24, seed=3)
weight = BorderWeightMap(w0=10, sigma=5)(instances[None])[0]
background, cells = weight[instances == 0], weight[instances > 0]
print(f"weights: background {background.min():.2f}..{background.max():.2f}, cells {cells.mean():.2f}")
save_grey(image, "cells.png")
save_grey(weight, "weight_map.png")

# %% [markdown]
# ## Coarse elastic deformation: a 3x3 grid of random displacements (10 px), smoothly interpolated

# %%
elastic = RandCoarseElastic(sigma=10.0, num_control_points=3).set_random_state(seed=0)
deformed = elastic(torch.as_tensor(image)[None])[0].numpy()
deformed_labels = elastic(torch.as_tensor(instances)[None].float(), mode="nearest", randomize=False)[0].numpy()
save_grey(np.concatenate([image, deformed], axis=1), "elastic.png")
print("displacements drawn (control points x axes):", tuple(elastic.displacements.shape))


# %% [markdown]
# ## Training with and without the weight map
# A narrow UNet2015 (8..64 features, three poolings) on eight generated images.


# %%
def samples(count, size, first_seed):
    items = []
    for seed in range(first_seed, first_seed + count):
        img, inst = touching_cells_2d((size, size), num_cells=size * size // 2700, seed=seed)
        items.append(
            {
                "image": torch.as_tensor(img)[None, None],
                "label": torch.as_tensor(inst > 0)[None, None].long(),
                "weight": torch.as_tensor(BorderWeightMap()(inst[None]))[None],
            }
        )
    return items


def train(use_weight_map):
    torch.manual_seed(0)
    net = UNet2015(2, 1, 2, features=(8, 16, 32, 64), dropout=0.0)
    data = samples(8, 196, 0)
    trainer = create_trainer(
        net,
        data,
        max_epochs=max(1, iterations // len(data)),
        optimizer=paper_optimizer(net.parameters()),
        device="cpu",
        progress=False,
        use_weight_map=use_weight_map,
    )
    trainer.run()
    return net.eval()


nets = {"with weight map": train(True), "without": train(False)}

# %% [markdown]
# ## Overlap-tile inference on an image larger than a tile, with mirroring at the borders

# %%
test_image, test_instances = touching_cells_2d((300, 340), num_cells=36, seed=100)
inferer = OverlapTileInferer(roi_size=196)
rows = []
for name, net in nets.items():
    with torch.no_grad():
        prediction = inferer(torch.as_tensor(test_image)[None, None], net).argmax(1)[0].numpy()
    objects, found = ndimage.label(prediction)
    print(f"{name}: {found} objects found for {test_instances.max()} cells")
    rows.append(
        (f"{name}: {found} objects, {test_instances.max()} cells", test_image, test_instances, objects, INSTANCES)
    )
if args.quick:
    print(
        f"(--quick trains {iterations} iterations, far too few to learn the cells: few or no objects is what it "
        "gives; the full run trains 800 and finds most of them)"
    )
figure = overlay_figure(rows, out / "with_and_without_weight_map.png")
display_figure(figure)
print("figures in", out)
