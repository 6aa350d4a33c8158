"""The paper's whole training augmentation as one composable list of MONAI transforms."""

from __future__ import annotations

import math
from collections.abc import Sequence

from monai.transforms import RandAdjustContrastd, RandAffined, RandGaussianNoised, RandScaleIntensityd
from monai.transforms.transform import Transform

from monai_unet2015.transforms.elastic import RandCoarseElasticd

__all__ = ["paper_augmentation"]


def paper_augmentation(
    image_key: str = "image",
    label_key: str = "label",
    weight_key: str | None = "weight",
    spatial_dims: int = 2,
    elastic_sigma: float = 10.0,
    num_control_points: int = 3,
    max_rotation_degrees: float = 15.0,
    max_shift_pixels: float = 20.0,
    gray_value_variation: bool = True,
) -> list[Transform]:
    """Ronneberger et al. 2015's augmentation: shift, rotation, gray values, elastic deformation.

    The paper names the operations ("shift and rotation invariance as well as robustness
    to deformations and gray value variations ... random elastic deformations") but not
    the ranges of shift, rotation and gray values; the defaults here are ours. Geometric
    transforms move image, label (nearest) and weight map (bilinear) together; gray-value
    variation touches the image only. Uses MONAI's ``RandAffined`` for shift and
    rotation and MONAI's intensity transforms; only the elastic deformation is this
    package's. Put the weight map (:class:`BorderWeightMapd`) before this list, in the
    cached part of the pipeline.

    Args:
        image_key, label_key, weight_key: keys of the sample; ``weight_key`` None if no map.
        spatial_dims: 2 or 3.
        elastic_sigma, num_control_points: the paper's 10 pixels on a 3x3 (3x3x3) grid.
        max_rotation_degrees: rotation range, +- degrees about every axis.
        max_shift_pixels: shift range, +- pixels on every axis.
        gray_value_variation: add contrast (gamma), scale and noise variation of the image.

    Example::

        >>> import numpy as np
        >>> from monai.transforms import Compose
        >>> pipeline = Compose(paper_augmentation(weight_key=None)).set_random_state(seed=0)
        >>> sample = {"image": np.random.rand(1, 64, 64).astype(np.float32), "label": np.zeros((1, 64, 64))}
        >>> pipeline(sample)["image"].shape
        torch.Size([1, 64, 64])
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    spatial_keys = [image_key, label_key] + ([weight_key] if weight_key else [])
    modes = ["bilinear", "nearest"] + (["bilinear"] if weight_key else [])
    angle = math.radians(max_rotation_degrees)
    rotate_range: Sequence[float] = (angle,) if spatial_dims == 2 else (angle, angle, angle)
    transforms: list[Transform] = [
        RandAffined(
            keys=spatial_keys,
            prob=1.0,
            rotate_range=rotate_range,
            translate_range=(max_shift_pixels,) * spatial_dims,
            mode=modes,
            padding_mode="reflection",
        ),
        RandCoarseElasticd(keys=spatial_keys, sigma=elastic_sigma, num_control_points=num_control_points, mode=modes),
    ]
    if gray_value_variation:
        transforms += [
            RandAdjustContrastd(keys=image_key, prob=0.5, gamma=(0.7, 1.5)),
            RandScaleIntensityd(keys=image_key, prob=0.5, factors=0.1),
            RandGaussianNoised(keys=image_key, prob=0.5, std=0.02),
        ]
    return transforms
