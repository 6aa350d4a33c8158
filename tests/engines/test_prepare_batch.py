"""PrepareBatchWeightMap hands label and weight to the loss."""

from __future__ import annotations

import pytest
import torch

from monai_unet2015.engines import PrepareBatchWeightMap


def test_returns_image_and_label_weight_mapping():
    batch = {"img": torch.zeros(1, 1, 4, 4), "seg": torch.ones(1, 1, 4, 4), "w": torch.full((1, 1, 4, 4), 2.0)}
    image, target = PrepareBatchWeightMap("img", "seg", "w")(batch, device="cpu")
    assert torch.equal(image, batch["img"])
    assert torch.equal(target["label"], batch["seg"]) and torch.equal(target["weight"], batch["w"])


def test_missing_weight_names_the_key_and_the_fix():
    batch = {"image": torch.zeros(1, 1, 4, 4), "label": torch.zeros(1, 1, 4, 4)}
    with pytest.raises(KeyError, match=r"no 'weight' entry \(it has \['image', 'label'\]\).*BorderWeightMapd"):
        PrepareBatchWeightMap()(batch)


def test_non_dictionary_batch_is_an_error():
    with pytest.raises(TypeError, match="needs a dictionary batch, got tuple"):
        PrepareBatchWeightMap()((torch.zeros(1), torch.zeros(1)))


@pytest.mark.parametrize("name", ["image_key", "label_key", "weight_key"])
def test_keys_must_be_strings(name):
    with pytest.raises(TypeError, match=f"{name} must be a str"):
        PrepareBatchWeightMap(**{name: 1})
