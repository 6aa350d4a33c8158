"""Helpers the bundles reference: input checks with one-line errors, datalists, weights, inference, the demo."""

from monai_unet2015.bundle.cases import CaseProblemsError, check_training_cases, training_case_problems
from monai_unet2015.bundle.checks import (
    BundleInputError,
    CheckInputChannels,
    LoadNetworkWeights,
    load_datalist,
    split_datalist,
)
from monai_unet2015.bundle.cli import as_bool, prepare_cli_run
from monai_unet2015.bundle.inference import CasesFailedError, InferenceReport, SegmentCases

__all__ = [
    "BundleInputError",
    "CheckInputChannels",
    "LoadNetworkWeights",
    "load_datalist",
    "split_datalist",
    "CaseProblemsError",
    "check_training_cases",
    "training_case_problems",
    "as_bool",
    "prepare_cli_run",
    "SegmentCases",
    "CasesFailedError",
    "InferenceReport",
]
