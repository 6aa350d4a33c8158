"""What the bundles add to MONAI's bundle runs: the command line, case checks, batch inference, the demo."""

from monai_unet2015.bundle.cases import CaseProblemsError, check_training_cases, training_case_problems
from monai_unet2015.bundle.cli import as_bool, prepare_cli_run
from monai_unet2015.bundle.errors import BundleInputError
from monai_unet2015.bundle.inference import CasesFailedError, InferenceReport, SegmentCases

__all__ = [
    "BundleInputError",
    "CaseProblemsError",
    "check_training_cases",
    "training_case_problems",
    "as_bool",
    "prepare_cli_run",
    "SegmentCases",
    "CasesFailedError",
    "InferenceReport",
]
