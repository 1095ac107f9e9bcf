"""Classification metrics with 95% intervals (Wilson for proportions, bootstrap for AUC and F1), and the
percentile bootstrap the study report also uses for its segmentation means; calibration: temperature
scaling, operating thresholds, Brier score and expected calibration error; the in-lung share of a saliency map."""

from monai_ext.metrics.calibration import (
    adjust_to_prior,
    brier_score,
    em_prior,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    reliability_curve,
    threshold_for_sensitivity,
    uncalibrated,
    youden_threshold,
)
from monai_ext.metrics.classification import (
    classification_report,
    confusion_matrix,
    roc_auc,
    roc_curve,
    wilson_interval,
)
from monai_ext.metrics.intervals import bootstrap_mean, percentile_interval
from monai_ext.metrics.saliency import in_mask_fraction

__all__ = [
    "adjust_to_prior",
    "bootstrap_mean",
    "brier_score",
    "classification_report",
    "confusion_matrix",
    "em_prior",
    "expected_calibration_error",
    "fit_calibration",
    "fit_temperature",
    "in_mask_fraction",
    "percentile_interval",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "threshold_for_sensitivity",
    "uncalibrated",
    "wilson_interval",
    "youden_threshold",
]
