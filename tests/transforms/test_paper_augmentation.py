import numpy as np
import pytest
import torch
from monai.transforms import Compose

from monai_unet2015.transforms import BorderWeightMapd, paper_augmentation


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_pipeline_moves_image_label_and_weight_together(spatial_dims):
    shape = (1,) + (40,) * spatial_dims if spatial_dims == 2 else (1, 24, 24, 16)
    label = np.zeros(shape, np.int64)
    label[(0, *[slice(8, 16)] * spatial_dims)] = 1
    label[(0, *[slice(18, 23)] * spatial_dims)] = 2
    sample = {"image": label.astype(np.float32), "label": label}
    pipeline = Compose(
        [BorderWeightMapd("label"), *paper_augmentation(spatial_dims=spatial_dims, gray_value_variation=False)]
    )
    out = pipeline.set_random_state(seed=0)(sample)
    assert out["image"].shape == out["label"].shape == out["weight"].shape == shape
    assert set(torch.unique(torch.as_tensor(out["label"])).tolist()) <= {0, 1, 2}
    image, label_out = torch.as_tensor(out["image"]), torch.as_tensor(out["label"])
    interior = (image - image.round()).abs() < 1e-3
    assert torch.equal(label_out[interior].float(), image[interior].round())


def test_invalid_spatial_dims():
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3, got 4"):
        paper_augmentation(spatial_dims=4)
