"""Classification metrics with 95% intervals (Wilson for proportions, bootstrap for AUC and F1), and the
percentile bootstrap the study report also uses for its segmentation means."""

from monai_ext.metrics.classification import (
    classification_report,
    confusion_matrix,
    roc_auc,
    roc_curve,
    wilson_interval,
)
from monai_ext.metrics.intervals import bootstrap_mean, percentile_interval

__all__ = [
    "bootstrap_mean",
    "classification_report",
    "confusion_matrix",
    "percentile_interval",
    "roc_auc",
    "roc_curve",
    "wilson_interval",
]
