"""Percentile bootstrap intervals, shared by the classification metrics and the study report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_mean", "percentile_interval"]


def percentile_interval(values: Sequence[float]) -> list[float | None]:
    """The 95% percentile interval ``[2.5th, 97.5th]`` of bootstrap values (``[None, None]`` when there are none)."""
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) else [None, None]


def bootstrap_mean(values: np.ndarray, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The mean of ``values`` with its 95% percentile bootstrap interval (``n_bootstrap`` resamples, fixed ``seed``)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(n_bootstrap)]
    return {"value": float(values.mean()), "ci95": percentile_interval(means), "n": len(values)}
