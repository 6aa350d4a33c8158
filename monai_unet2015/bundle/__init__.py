"""What the bundles add to MONAI's bundle runs: the workflow class, case checks, batch inference, the demo."""

from monai_unet2015.bundle.cases import CaseProblemsError, check_training_cases, training_case_problems
from monai_unet2015.bundle.cli import as_bool, dicom_seg_setting
from monai_unet2015.bundle.errors import BundleInputError
from monai_unet2015.bundle.inference import CasesFailedError, InferenceReport, SegmentCases
from monai_unet2015.bundle.locations import bundle_identity
from monai_unet2015.bundle.lock import TrainingLock
from monai_unet2015.bundle.predictor import Predictor
from monai_unet2015.bundle.workflow import WORKFLOW_NAME, UNet2015Workflow

__all__ = [
    "BundleInputError",
    "CaseProblemsError",
    "check_training_cases",
    "training_case_problems",
    "as_bool",
    "dicom_seg_setting",
    "bundle_identity",
    "UNet2015Workflow",
    "TrainingLock",
    "Predictor",
    "WORKFLOW_NAME",
    "SegmentCases",
    "CasesFailedError",
    "InferenceReport",
]
