"""Writing an evaluator's metrics as a JSON summary."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from ignite.engine import Engine, Events

from monai_ext.metrics.intervals import bootstrap_mean
from monai_ext.utils import write_json

__all__ = ["MetricsSummaryJSON"]


class MetricsSummaryJSON:
    """At the end of a run, write ``{"metrics": {name: mean}, "per_image": {name: {mean, std, median, ci95, n}}}``
    (``ci95``: the 95% bootstrap interval of the mean over images),
    and with ``group_by``, ``"per_group": {name: {group: {value, ci95, n}}}`` (the group's mean).

    Per-image figures come from the metric handlers' details (``save_details=True``, their default);
    images where a metric is undefined (NaN, e.g. Hausdorff distance of an empty mask) are counted
    in ``n_undefined`` and left out of the statistics.

    Args:
        save_path: the JSON file (written atomically).
        group_by: a field of the batch items (e.g. ``class_name``): each metric is also summarised per
            value of it, with a bootstrap 95% interval of the group's mean. Items without it form ``""``.
    """

    def __init__(self, save_path: str | os.PathLike, group_by: str | None = None) -> None:
        self.save_path = save_path
        self.group_by = group_by
        self._groups: list[str] = []

    def attach(self, engine: Engine) -> None:
        if self.group_by is not None:
            engine.add_event_handler(Events.STARTED, lambda _: self._groups.clear())
            engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect_groups)
        engine.add_event_handler(Events.COMPLETED, self)

    def _collect_groups(self, engine: Engine) -> None:
        batch = engine.state.batch
        items = batch if isinstance(batch, list) else [batch]  # decollated or collated
        for item in items:
            value = item.get(self.group_by, "")
            values = value if isinstance(value, (list, tuple)) else [value]
            self._groups.extend(str(v) for v in values)

    def __call__(self, engine: Engine) -> None:
        summary: dict = {"metrics": {}, "per_image": {}, "n_images": None}
        if self.group_by is not None:
            summary["per_group"] = {}
            summary["group_by"] = self.group_by
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
                "ci95": bootstrap_mean(finite)["ci95"] if finite.size else [None, None],
                "n": int(finite.size),
                "n_undefined": int(values.size - finite.size),
            }
            if self.group_by is not None and len(self._groups) == values.size:
                summary["per_group"][name] = _per_group(values, self._groups)
        write_json(summary, self.save_path)


def _per_group(values: np.ndarray, groups: list[str]) -> dict[str, dict]:
    out = {}
    labels = np.asarray(groups)
    for group in sorted(set(groups)):
        chosen = values[labels == group]
        finite = chosen[np.isfinite(chosen)]
        out[group] = bootstrap_mean(finite) if finite.size else {"value": None, "ci95": [None, None], "n": 0}
    return out


def _number(value) -> float | None:
    value = float(value.item() if hasattr(value, "item") else value)
    return None if math.isnan(value) or math.isinf(value) else value
