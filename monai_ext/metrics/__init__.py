"""Metrics with confidence intervals for the classification and segmentation reports."""

from monai_ext.metrics.classification import (
    classification_report,
    confusion_matrix,
    roc_auc,
    roc_curve,
    wilson_interval,
)

__all__ = ["classification_report", "confusion_matrix", "roc_auc", "roc_curve", "wilson_interval"]
