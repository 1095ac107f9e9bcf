"""Writing an evaluator's metrics as a JSON summary."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from ignite.engine import Engine, Events

from monai_ext.utils import write_json

__all__ = ["MetricsSummaryJSON"]


class MetricsSummaryJSON:
    """At the end of a run, write ``{"metrics": {name: mean}, "per_image": {name: {mean, std, median, n}}}``.

    Per-image figures come from the metric handlers' details (``save_details=True``, their default);
    images where a metric is undefined (NaN, e.g. Hausdorff distance of an empty mask) are counted
    in ``n_undefined`` and left out of the statistics.
    """

    def __init__(self, save_path: str | os.PathLike) -> None:
        self.save_path = save_path

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        summary: dict = {"metrics": {}, "per_image": {}, "n_images": None}
        for name, value in engine.state.metrics.items():
            summary["metrics"][name] = _number(value)
        for name, details in (getattr(engine.state, "metric_details", None) or {}).items():
            values = torch.as_tensor(details).float().flatten().cpu().numpy()
            finite = values[np.isfinite(values)]
            summary["n_images"] = int(values.size)
            summary["per_image"][name] = {
                "mean": _number(finite.mean()) if finite.size else None,
                "std": _number(finite.std()) if finite.size else None,
                "median": _number(np.median(finite)) if finite.size else None,
                "n": int(finite.size),
                "n_undefined": int(values.size - finite.size),
            }
        write_json(summary, self.save_path)


def _number(value) -> float | None:
    value = float(value.item() if hasattr(value, "item") else value)
    return None if math.isnan(value) or math.isinf(value) else value
