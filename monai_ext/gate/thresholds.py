"""The gate's thresholds, fitted at a stated false-refusal rate.

Each numeric check of the gate refuses an input whose score lies beyond a threshold (:data:`BOUNDS`: the
score, the side it must not cross, what crossing it means). A threshold is fitted on radiographs the gate
must answer (validation images and mild degradations of them, never the test split) as a split-conformal
quantile (Vovk et al. 2005; Angelopoulos and Bates 2021): of ``n`` fitting scores the ``k``-th from the
refused side's far end, ``k = ceil((n + 1) (1 - rate))``, so that a new radiograph exchangeable with them
is refused with probability at most ``rate``. With too few images for the rate (``k > n``) the threshold is
the most extreme score, and the rate guaranteed is only ``1 / (n + 1)``: the record says so.

The whole gate refuses an input when any check does, so :func:`fit_thresholds` fits every check at
:data:`CHECK_RATE`, counts the fitting images any check refuses, and while they are more than
:data:`GATE_RATE` fits them all again at half the rate. Before a fit (a model folder whose ``gate.json``
has no thresholds) each check has its default, the value it was once chosen at by hand; the outputs then
say the gate is not fitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from monai.utils import StrEnum

from monai_ext.gate.checks import (
    LUNG_FRACTION_RANGE,
    MAX_COLOURFULNESS,
    MAX_DETAIL,
    MIN_DETAIL,
    MIN_LEFT_RIGHT_RATIO,
    MIN_LUNG_ASPECT,
    MIN_MEDIASTINUM_CONTRAST,
    MIN_SIDE_BY_SIDE,
    MIN_UPRIGHT,
)

__all__ = [
    "BOUNDS",
    "CHECK_RATE",
    "GATE_RATE",
    "MAX_TTA_DISAGREEMENT",
    "Bound",
    "Side",
    "beyond",
    "conformal_threshold",
    "fit_thresholds",
]

#: the false-refusal rate each check is fitted at, at most
CHECK_RATE = 0.005
#: the false-refusal rate of the whole gate (any check refusing) on the fitting images, at most
GATE_RATE = 0.02
#: the segmenter's test-time passes' largest disagreement on the lungs (1 - IoU of their masks), unfitted
MAX_TTA_DISAGREEMENT = 0.15


class Side(StrEnum):
    """Which side of its threshold a score is refused on."""

    BELOW = "below"  #: a score under the threshold is refused
    ABOVE = "above"  #: a score over the threshold is refused


@dataclass(frozen=True)
class Bound:
    """One threshold of the gate: ``score`` refused on ``side`` of the threshold; ``check`` the check it
    belongs to (:data:`~monai_ext.gate.CHECKS`), ``says`` what crossing it means, ``default`` the threshold
    before a fit (None: not checked until fitted)."""

    score: str
    side: Side
    check: str
    says: str
    default: float | None


#: every threshold of the gate, by name
BOUNDS = {
    bound.score + ("_min" if bound.side == Side.BELOW else "_max"): bound
    for bound in (
        Bound("colourfulness", Side.ABOVE, "colourfulness", "a colour picture", MAX_COLOURFULNESS),
        Bound("detail", Side.BELOW, "detail", "blurred or without fine detail", MIN_DETAIL),
        Bound("detail", Side.ABOVE, "detail", "dominated by noise", MAX_DETAIL),
        Bound("lung_fraction", Side.BELOW, "lung_mask", "lungs too small", LUNG_FRACTION_RANGE[0]),
        Bound("lung_fraction", Side.ABOVE, "lung_mask", "lungs too large", LUNG_FRACTION_RANGE[1]),
        Bound("left_right_ratio", Side.BELOW, "lung_mask", "one lung much smaller", MIN_LEFT_RIGHT_RATIO),
        Bound("side_by_side", Side.BELOW, "orientation", "lungs not side by side: turned", MIN_SIDE_BY_SIDE),
        Bound("lung_aspect", Side.BELOW, "orientation", "lungs lying: turned by 90 degrees", MIN_LUNG_ASPECT),
        Bound("upright", Side.BELOW, "orientation", "upside down", MIN_UPRIGHT),
        Bound("mediastinum_contrast", Side.BELOW, "polarity", "lungs brighter than the mediastinum: inverted",
              MIN_MEDIASTINUM_CONTRAST),
        Bound("tta_disagreement", Side.ABOVE, "tta_disagreement",
              "the segmenter's test-time passes disagree on the lungs", MAX_TTA_DISAGREEMENT),
        Bound("ood_distance", Side.ABOVE, "ood_distance", "unlike the training images", None),
    )
}  # fmt: skip


def beyond(value: float | None, threshold: float | None, side: Side) -> bool:
    """Whether ``value`` lies on the refused ``side`` of ``threshold`` (never, for a score or a threshold that
    is missing or NaN)."""
    if value is None or threshold is None or math.isnan(value) or math.isnan(threshold):
        return False
    return value < threshold if side == Side.BELOW else value > threshold


def conformal_threshold(values: Sequence[float], side: Side, rate: float) -> dict[str, Any]:
    """The split-conformal threshold of the fitting ``values`` (NaN, a check not made, left out) refusing at
    most ``rate`` of what is exchangeable with them on ``side`` (see the module's docs); its record:
    ``threshold`` (None without values), ``rate`` asked, ``n`` values, ``guaranteed_rate`` (above ``rate``
    when ``n`` is too small for it) and ``refused`` (the fitting values beyond the threshold)."""
    finite = np.sort(np.asarray([v for v in values if v is not None and not math.isnan(v)], np.float64))
    n = len(finite)
    if n == 0:
        return {"threshold": None, "rate": rate, "n": 0, "guaranteed_rate": None, "refused": 0}
    k = min(math.ceil((n + 1) * (1 - rate)), n)
    threshold = float(finite[k - 1] if side == Side.ABOVE else finite[n - k])
    return {
        "threshold": threshold,
        "rate": rate,
        "n": n,
        "guaranteed_rate": round(1 - k / (n + 1), 6),
        "refused": int(sum(beyond(float(v), threshold, side) for v in finite)),
    }


def fit_thresholds(
    rows: Sequence[Mapping[str, Any]],
    check_rate: float = CHECK_RATE,
    gate_rate: float = GATE_RATE,
    other_refusals: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Every :data:`BOUNDS` threshold fitted on ``rows`` (one per fitting image: its scores by name, None or
    NaN where not measured), each at ``check_rate``, all at half the rate again while more than ``gate_rate``
    of the rows would be refused by any of them or by ``other_refusals`` (per row: refused by a check with
    no threshold, such as a header or the number of lung regions). Returns ``{"thresholds": {name:
    record}, "gate": {"rate", "refused", "n", "check_rate"}}`` (see :func:`conformal_threshold`)."""
    if not rows:
        raise ValueError("no fitting images: the gate's thresholds need validation radiographs")
    others = list(other_refusals) if other_refusals is not None else [False] * len(rows)
    rate = check_rate
    while True:
        records = {
            name: conformal_threshold([_number(r.get(b.score)) for r in rows], b.side, rate)
            for name, b in BOUNDS.items()
        }
        refused = [
            other
            or any(beyond(_number(r.get(b.score)), records[name]["threshold"], b.side) for name, b in BOUNDS.items())
            for r, other in zip(rows, others)
        ]
        share = sum(refused) / len(rows)
        # at a rate below 1 / (n + 1) every threshold is the most extreme score: halving changes nothing
        if share <= gate_rate or rate < 1 / (2 * (len(rows) + 1)):
            break
        rate /= 2
    for name, bound in BOUNDS.items():
        records[name] = {"score": bound.score, "side": str(bound.side), **records[name]}
    return {
        "thresholds": records,
        "gate": {"rate": gate_rate, "refused": round(share, 6), "n": len(rows), "check_rate": rate},
    }


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
