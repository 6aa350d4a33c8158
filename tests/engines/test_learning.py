"""It learns: a narrow UNet2015 trained with the paper's engine segments touching cells, and
the border weight map separates touching cells better than the plain loss does."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_unet2015.engines import create_evaluator, create_trainer, paper_optimizer
from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.networks import UNet2015
from tests.engines.conftest import cell_samples, training_loader, validation_loader

TILE = 196  # valid for 3 poolings: 196 -> 108
ITERATIONS = 800
LR = 0.003  # the default; 0.01 and 0.005 diverged (NaN) on some of these datasets


def train_and_validate(train_samples, val_samples, use_weight_map: bool):
    torch.manual_seed(0)
    net = UNet2015(2, 1, 2, features=(8, 16, 32, 64), dropout=0.0)
    inferer = OverlapTileInferer(roi_size=TILE)
    evaluator = create_evaluator(net, validation_loader(val_samples), num_classes=2, inferer=inferer, device="cpu")
    loader = training_loader(train_samples, augment=False)
    trainer = create_trainer(
        net,
        loader,
        max_epochs=ITERATIONS // len(loader),
        optimizer=paper_optimizer(net.parameters(), learning_rate=LR),
        evaluator=evaluator,
        val_interval=ITERATIONS // len(loader),
        device="cpu",
        progress=False,
        use_weight_map=use_weight_map,
    )
    trainer.run()
    net.eval()
    count_errors = []
    with torch.no_grad():
        for sample in val_samples:
            prediction = inferer(torch.as_tensor(sample["image"])[None], net).argmax(1)[0].numpy()
            count_errors.append(abs(ndimage.label(prediction)[1] - int(sample["label"].max())))
    return evaluator.state.metrics["val_mean_dice"], float(np.mean(count_errors))


@pytest.mark.slow
def test_weight_map_training_learns_and_separates_touching_cells(caplog):
    caplog.set_level(logging.WARNING)
    train_samples, val_samples = cell_samples(8, TILE), cell_samples(4, 256, first_seed=100)
    assert all(ndimage.label(s["label"][0] > 0)[1] == s["label"].max() for s in val_samples)  # gaps separate cells

    dice_weighted, count_error_weighted = train_and_validate(train_samples, val_samples, use_weight_map=True)
    dice_plain, count_error_plain = train_and_validate(train_samples, val_samples, use_weight_map=False)

    logging.getLogger(__name__).warning(
        "Dice %.3f / %.3f, object count error %.2f / %.2f (weight map / plain)",
        dice_weighted,
        dice_plain,
        count_error_weighted,
        count_error_plain,
    )
    assert dice_weighted >= 0.9
    assert count_error_weighted < count_error_plain
