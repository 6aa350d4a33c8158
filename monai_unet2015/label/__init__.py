"""MONAI Label app and tasks on top of the bundles (needs the optional monailabel: README)."""

from monai_unet2015.label.app import WEIGHTS, UNet2015LabelApp, install_bundle
from monai_unet2015.label.studies import studies_from_msd
from monai_unet2015.label.tasks import UNet2015BundleInferTask, UNet2015BundleTrainTask, training_overrides

__all__ = [
    "UNet2015LabelApp",
    "UNet2015BundleInferTask",
    "UNet2015BundleTrainTask",
    "install_bundle",
    "studies_from_msd",
    "training_overrides",
    "WEIGHTS",
]
