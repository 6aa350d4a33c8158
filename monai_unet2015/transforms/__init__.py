"""MONAI transforms: the paper's augmentation (coarse-grid elastic deformation, border weight map),
checks, the instance post-processing, and the label map put back on its source grid."""

from monai_unet2015.transforms.checks import CheckImageLabeld
from monai_unet2015.transforms.crop import (
    CenterCropToReferenced,
    CenterCropToSize,
    PadToValidTiled,
    ReachableClassIndices,
    ReachableClassIndicesd,
    training_tile_crop,
)
from monai_unet2015.transforms.elastic import CoarseElastic, CoarseElasticd, RandCoarseElastic, RandCoarseElasticd
from monai_unet2015.transforms.instances import InstanceLabels, InstanceLabelsd
from monai_unet2015.transforms.instances_functional import label_instances, split_touching
from monai_unet2015.transforms.intensity import (
    MicroscopyIntensityd,
    ModalityIntensityd,
    ScaleNonZeroPercentiles,
    ScaleNonZeroPercentilesd,
)
from monai_unet2015.transforms.paper_augmentation import paper_augmentation
from monai_unet2015.transforms.source_grid import LabelsToSourceGrid, LabelsToSourceGridd, nearest_labels_on_grid
from monai_unet2015.transforms.sparse_labels import DiscretizeSparseLabeld
from monai_unet2015.transforms.support import BackgroundOutsideSupportd
from monai_unet2015.transforms.weight_map import BorderWeightMap, BorderWeightMapd

__all__ = [
    "CheckImageLabeld",
    "InstanceLabels",
    "InstanceLabelsd",
    "label_instances",
    "split_touching",
    "ScaleNonZeroPercentiles",
    "ScaleNonZeroPercentilesd",
    "ModalityIntensityd",
    "MicroscopyIntensityd",
    "CenterCropToSize",
    "CenterCropToReferenced",
    "PadToValidTiled",
    "ReachableClassIndices",
    "ReachableClassIndicesd",
    "training_tile_crop",
    "DiscretizeSparseLabeld",
    "BackgroundOutsideSupportd",
    "LabelsToSourceGrid",
    "LabelsToSourceGridd",
    "nearest_labels_on_grid",
    "CoarseElastic",
    "CoarseElasticd",
    "RandCoarseElastic",
    "RandCoarseElasticd",
    "BorderWeightMap",
    "BorderWeightMapd",
    "paper_augmentation",
]
