"""Ignite handlers MONAI lacks: atomic checkpoints, resume from the newest one, JSON metric summaries."""

from monai_ext.handlers.checkpoint import AtomicCheckpointSaver, LatestCheckpointLoader, latest_checkpoint
from monai_ext.handlers.metrics_summary import MetricsSummaryJSON

__all__ = ["AtomicCheckpointSaver", "LatestCheckpointLoader", "MetricsSummaryJSON", "latest_checkpoint"]
