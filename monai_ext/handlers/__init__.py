"""Ignite handlers MONAI lacks, one a file.

Training: resume checkpoints that are always complete on disk (``checkpoint_saver``) and the resume from the
newest one of this run (``checkpoint_loader``, ``run_record``, ``checkpoint_files``), the best model
(``best_model``) and the settings written beside it (``model_settings``), early stopping that resumes
(``early_stop``), BatchNorm statistics recomputed before validation (``batchnorm``), the temperature and
threshold (``calibration``) and the input gate (``gate``) fitted at the end, and the model card
(``model_card``). Inference and evaluation: predictions and metrics with intervals
(``classification_writer``, ``metrics_summary``, ``scoring``, ``outputs``), the gate's answer or abstention
(``gate``), the manifest of a batch job (``manifest``), Grad-CAM maps (``saliency``) and the prior-shift
estimate (``prior_shift``)."""

from monai_ext.handlers.batchnorm import PreciseBatchNorm, recompute_batchnorm_statistics
from monai_ext.handlers.best_model import BestModelEvents, BestModelSaver
from monai_ext.handlers.calibration import CalibrationFitter
from monai_ext.handlers.checkpoint_files import latest_checkpoint
from monai_ext.handlers.checkpoint_loader import LatestCheckpointLoader, ResumeMismatchError
from monai_ext.handlers.checkpoint_saver import AtomicCheckpointSaver, AtomicDiskSaver
from monai_ext.handlers.classification_writer import ClassificationWriter, flatten_report
from monai_ext.handlers.early_stop import ResumableEarlyStopHandler
from monai_ext.handlers.gate import GateFitter, InputGateHandler
from monai_ext.handlers.manifest import FinishRun, InferenceManifest
from monai_ext.handlers.metrics_summary import MetricsSummaryJSON
from monai_ext.handlers.model_card import ModelCardWriter
from monai_ext.handlers.model_settings import ModelSettingsWriter
from monai_ext.handlers.outputs import probs_and_labels, probs_and_onehot
from monai_ext.handlers.prior_shift import PriorShift
from monai_ext.handlers.run_record import RunRecord
from monai_ext.handlers.saliency import SaliencyWriter
from monai_ext.handlers.scoring import LogLikelihood

__all__ = [
    "AtomicCheckpointSaver",
    "AtomicDiskSaver",
    "BestModelEvents",
    "BestModelSaver",
    "CalibrationFitter",
    "ClassificationWriter",
    "FinishRun",
    "GateFitter",
    "InferenceManifest",
    "InputGateHandler",
    "LatestCheckpointLoader",
    "LogLikelihood",
    "MetricsSummaryJSON",
    "ModelCardWriter",
    "ModelSettingsWriter",
    "PreciseBatchNorm",
    "PriorShift",
    "ResumableEarlyStopHandler",
    "ResumeMismatchError",
    "RunRecord",
    "SaliencyWriter",
    "flatten_report",
    "latest_checkpoint",
    "probs_and_labels",
    "probs_and_onehot",
    "recompute_batchnorm_statistics",
]
