"""Bootstrap resamples and percentile intervals: the one place every interval of the project resamples its items."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_indices", "bootstrap_mean", "percentile_interval"]


def bootstrap_indices(n: int, n_bootstrap: int, seed: int = 0) -> Iterator[np.ndarray]:
    """The item indices of each of ``n_bootstrap`` resamples, with replacement, of ``n`` items (fixed ``seed``):
    every bootstrap interval of the project draws its resamples here."""
    rng = np.random.default_rng(seed)
    for _ in range(n_bootstrap):
        yield rng.integers(0, n, n)


def percentile_interval(values: Sequence[float]) -> list[float | None]:
    """The 95% percentile interval ``[2.5th, 97.5th]`` of bootstrap values (``[None, None]`` when there are none)."""
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) else [None, None]


def bootstrap_mean(values: np.ndarray, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The mean of ``values`` with its 95% percentile bootstrap interval (``n_bootstrap`` resamples, fixed ``seed``)."""
    values = np.asarray(values, dtype=float)
    means = [values[idx].mean() for idx in bootstrap_indices(len(values), n_bootstrap, seed)]
    return {"value": float(values.mean()), "ci95": percentile_interval(means), "n": len(values)}
