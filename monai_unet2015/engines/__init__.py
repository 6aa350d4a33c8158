"""Training with ``monai.engines``: weight maps to the loss, the paper's trainer and evaluator."""

from monai_unet2015.engines.checkpoints import (
    BestMetricState,
    LoadNetworkWeights,
    ResumeFromLatest,
    SaveBestModel,
    TrainingFinishedError,
    checkpoint_count,
    describe_state_mismatch,
    interval_checkpoints,
    latest_checkpoint,
)
from monai_unet2015.engines.handlers import (
    BroadcastBuffers,
    CheckInputChannels,
    ClipGradientNorm,
    NonFiniteLossError,
    SeedEveryEpoch,
    StopOnNonFiniteLoss,
    channel_mismatch,
    loss_from_output,
)
from monai_unet2015.engines.prepare_batch import PrepareBatchWeightMap
from monai_unet2015.engines.time_budget import TimePolyLR, TrainingTimeBudget
from monai_unet2015.engines.workflows import (
    AMP_DTYPE,
    GRAD_CLIP_NORM,
    MODEL_KEY,
    create_evaluator,
    create_trainer,
    evaluation_postprocessing,
    paper_optimizer,
    plateau_stop,
    poly_lr_scheduler,
)

__all__ = [
    "PrepareBatchWeightMap",
    "CheckInputChannels",
    "BroadcastBuffers",
    "ClipGradientNorm",
    "channel_mismatch",
    "LoadNetworkWeights",
    "SeedEveryEpoch",
    "TrainingTimeBudget",
    "TimePolyLR",
    "StopOnNonFiniteLoss",
    "NonFiniteLossError",
    "latest_checkpoint",
    "ResumeFromLatest",
    "SaveBestModel",
    "BestMetricState",
    "TrainingFinishedError",
    "describe_state_mismatch",
    "interval_checkpoints",
    "checkpoint_count",
    "loss_from_output",
    "paper_optimizer",
    "plateau_stop",
    "poly_lr_scheduler",
    "evaluation_postprocessing",
    "create_trainer",
    "create_evaluator",
    "MODEL_KEY",
    "AMP_DTYPE",
    "GRAD_CLIP_NORM",
]
