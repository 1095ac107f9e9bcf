"""The ``no_lung`` shortcut probe: does a classifier that never sees the lungs still find the class?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ProbeVerdict", "shortcut_probe"]


@dataclass
class ProbeVerdict:
    """What the ``no_lung`` run says about shortcuts outside the lungs.

    ``verdict`` is ``"shortcut"`` (the no-lung run is above chance: by accuracy against always answering
    the majority class, or by ROC AUC against 0.5, each on the lower bound of its 95% interval; the
    accuracy is the one at the run's operating threshold, fitted on validation, where it has one, not
    at an arbitrary 0.5),
    ``"none"`` (not above chance, while the lung run is: no evidence of a shortcut) or
    ``"uninformative"`` (neither run is above chance: the probe cannot tell).
    """

    verdict: str
    chance: float
    reasons: list[str] = field(default_factory=list)


def shortcut_probe(lung: dict[str, Any], no_lung: dict[str, Any]) -> ProbeVerdict:
    """Judge the ``no_lung`` run against chance, given the overall reports of the ``lung`` and ``no_lung``
    runs (:func:`~monai_ext.metrics.classification_report` plus their ``headline``)."""
    cm = np.array(no_lung["overall"]["confusion_matrix"])
    chance = float(cm.sum(axis=1).max() / cm.sum())  # always answering the largest class
    at_threshold = no_lung["overall"].get("at_threshold")
    accuracy = at_threshold["accuracy"] if at_threshold else no_lung["headline"]["accuracy"]
    where = f"at the validation threshold {at_threshold['threshold']:.3f}" if at_threshold else "at 0.5"
    acc_low = accuracy["ci95"][0]
    auc_low = no_lung["headline"]["auc"]["ci95"][0]
    reasons = []
    if acc_low is not None and acc_low > chance:
        reasons.append(f"accuracy {where}: lower 95% bound {100 * acc_low:.1f}% > {100 * chance:.1f}% (majority class)")
    if auc_low is not None and auc_low > 0.5:
        reasons.append(f"ROC AUC's lower 95% bound {auc_low:.3f} > 0.5")
    if reasons:
        return ProbeVerdict("shortcut", chance, reasons)
    lung_auc_low = lung["headline"]["auc"]["ci95"][0]
    return ProbeVerdict("uninformative" if lung_auc_low is None or lung_auc_low <= 0.5 else "none", chance)
