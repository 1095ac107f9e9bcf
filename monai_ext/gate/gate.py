"""The input gate: whether an input is a frontal chest radiograph this model may answer on, or not assessable.

Before a decision, each input passes every check below; one that fails makes the decision ``abstain``,
with the failed checks and their values as the reason:

- the DICOM header, when there is one: Modality CR or DX, BodyPartExamined the chest, ViewPosition PA or
  AP, grey pixels (:mod:`monai_ext.gate.checks`);
- the picture itself: not a colour picture, with the fine detail of a radiograph (not blurred, not a
  thumbnail enlarged, not noise);
- the lung mask: two lungs, neither too small nor too large nor much smaller than the other, lying side by
  side and upright (not turned by 90 degrees, not upside down), darker than the mediastinum between them
  (not inverted);
- the segmenter's own doubt: its test-time passes (the image and its mirror image) disagree on the lungs;
- the classifier's features: farther from the training set's than radiographs go
  (:class:`~monai_ext.gate.ood.FeatureDensity`, fitted when training ends).

Every numeric check compares a score with a threshold fitted at a stated false-refusal rate
(:mod:`monai_ext.gate.thresholds`; ``models/gate.json`` keeps them with their rates). A check that cannot be
made (no header, a mask read from a file without test-time passes, a model folder without ``gate.json``) is
not held against the input. ``--gate False`` turns the gate off (the decision is then the class at the
threshold, as before, and the outputs say ``gate: off``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from monai.utils import StrEnum

from monai_ext.gate.checks import (
    EXPECTED_LUNG_REGIONS,
    body_part_check,
    image_detail,
    lung_geometry,
    modality_check,
    photometric_check,
    view_check,
)
from monai_ext.gate.ood import FeatureDensity
from monai_ext.gate.thresholds import BOUNDS, beyond

__all__ = [
    "ABSTAIN",
    "CHECKS",
    "GATE_FIELDS",
    "GATE_PROBLEMS",
    "IMAGE_SCORES",
    "GateDecision",
    "GateResult",
    "InputGate",
    "image_checks",
]


class GateDecision(StrEnum):
    """What the gate says of an input."""

    ANSWER = "answer"  #: the classifier's decision stands
    ABSTAIN = "abstain"  #: not assessable: no probability is given, the reasons are


#: the decision of an input the gate does not answer on (a prediction's ``decision`` then reads this too)
ABSTAIN = GateDecision.ABSTAIN
#: where the preprocessing leaves the problems its checks found ("check: reason", "; "-joined)
GATE_PROBLEMS = "gate_problems"
#: the gate's checks, by the name a failed one is reported under, and what each says in a word
CHECKS = {
    "modality": "not a radiograph",
    "body_part": "not the chest",
    "view_position": "not a frontal view",
    "photometric": "a colour image",
    "colourfulness": "a colour picture",
    "detail": "blurred, enlarged or noise",
    "lung_mask": "no plausible lung mask",
    "lung_regions": "not two lungs",
    "lower_edge": "cut off below the lungs",
    "orientation": "turned or upside down",
    "polarity": "inverted grey values",
    "tta_disagreement": "segmentation unstable",
    "ood_distance": "unlike the training images",
}
#: the scores measured on the input before any network but the segmenter (:func:`image_checks`)
IMAGE_SCORES = tuple(
    dict.fromkeys(b.score for b in BOUNDS.values() if b.score not in ("tta_disagreement", "ood_distance"))
)
#: the gate's columns in predictions.csv, in order
GATE_FIELDS = ("gate", "abstain_reason", "gate_checks", "ood_distance", "tta_disagreement", *IMAGE_SCORES)


def image_checks(
    meta: Mapping[str, Any],
    image: np.ndarray | None,
    mask: np.ndarray | None,
    quality: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The measurements of one input that need neither network: its header (``meta``: the reader's
    ``modality``, ``body_part``, ``view_position``, ``photometric_interpretation``, ``colourfulness``), and
    its grey ``image`` ``(rows, columns)`` with its binary lung ``mask`` on the same grid and the mask's
    ``quality`` (:func:`~monai_ext.transforms.lung_mask_quality`: ``lung_fraction``, ``lung_regions``,
    ``left_right_ratio``). Returns the :data:`IMAGE_SCORES` (None where not measured), which the gate
    compares with its thresholds, and the problems that need no threshold, ``(check, reason)`` each: the
    header's, a mask without two lungs, lungs reaching the image's lower edge."""
    problems: list[tuple[str, str]] = []
    for name, (_, problem) in (
        ("modality", modality_check(meta.get("modality"))),
        ("body_part", body_part_check(meta.get("body_part"))),
        ("view_position", view_check(meta.get("view_position"))),
        ("photometric", photometric_check(meta.get("photometric_interpretation"))),
    ):
        if problem:
            problems.append((name, problem))
    colour = meta.get("colourfulness")
    scores: dict[str, Any] = dict.fromkeys(IMAGE_SCORES)
    scores["colourfulness"] = None if colour is None else round(float(colour), 2)
    if image is not None:
        scores["detail"] = image_detail(image)
    if mask is not None:
        quality = quality or {}
        scores.update({k: quality.get(k) for k in ("lung_fraction", "left_right_ratio")})
        regions = quality.get("lung_regions")
        if regions is not None and regions != EXPECTED_LUNG_REGIONS:
            problems.append(("lung_regions", f"{regions} lung regions ({EXPECTED_LUNG_REGIONS} expected)"))
        # a mask file of another size than the picture: the geometry is judged on the mask's grid alone
        same_grid = image is not None and np.shape(image) == np.shape(mask)
        geometry = lung_geometry(mask, image if same_grid else None) or {}
        scores.update({k: geometry.get(k) for k in ("side_by_side", "lung_aspect", "upright", "mediastinum_contrast")})
        if geometry.get("reaches_lower_edge"):
            why = "the lungs reach the image's lower edge, no abdomen below them: upside down or cut off"
            problems.append(("lower_edge", why))
    return scores, problems


@dataclass
class GateResult:
    """The gate's answer on one input: ``gate`` is ``answer``, ``abstain`` or ``off``; ``failed`` the checks that
    failed, ``(check, reason)`` each, the reason with the values; ``scores`` what was measured (None where a
    check could not be made)."""

    gate: str
    failed: list[tuple[str, str]] = field(default_factory=list)
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [reason for _, reason in self.failed]

    @property
    def abstains(self) -> bool:
        return self.gate == ABSTAIN

    def fields(self) -> dict[str, Any]:
        """The :data:`GATE_FIELDS` of a predictions row (numbers rounded, a check not made left empty)."""
        checks = "; ".join(dict.fromkeys(check for check, _ in self.failed))
        out = {"gate": self.gate, "abstain_reason": "; ".join(self.reasons), "gate_checks": checks}
        for name in GATE_FIELDS[3:]:
            value = self.scores.get(name)
            out[name] = "" if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 4)
        return out


class InputGate:
    """The gate of one classifier (see the module's docs).

    Args:
        density: the training features' density (``models/gate.json`` and ``gate_features.pt``), or None.
        thresholds: the thresholds by :data:`~monai_ext.gate.thresholds.BOUNDS` name (``gate.json``'s fitted
            ones); a name left out keeps its default (the feature distance: not checked).
        fitted: whether ``thresholds`` were fitted at a stated rate (the outputs say when they were not).
        enabled: False answers on everything (``gate: off``).
    """

    def __init__(
        self,
        density: FeatureDensity | None = None,
        thresholds: Mapping[str, float | None] | None = None,
        fitted: bool = False,
        enabled: bool = True,
    ) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"gate must be True or False, got {enabled!r} (on the command line: --gate False)")
        unknown = sorted(set(thresholds or {}) - set(BOUNDS))
        if unknown:
            raise ValueError(f"unknown gate thresholds {unknown}; the gate has {sorted(BOUNDS)}")
        self.density = density
        self.thresholds = {name: b.default for name, b in BOUNDS.items()} | dict(thresholds or {})
        self.fitted = fitted
        self.enabled = enabled

    @classmethod
    def from_model_folder(cls, folder: Any, enabled: bool = True) -> InputGate:
        """The gate of a :class:`~monai_ext.bundle.ModelFolder`: its thresholds and feature density when the
        folder has them (``gate.json``)."""
        if not enabled:
            return cls(enabled=False)
        density, ood_threshold = folder.gate_density()
        fitted = (folder.gate or {}).get("thresholds")
        thresholds = {"ood_distance_max": ood_threshold}
        if fitted:
            thresholds |= {name: record["threshold"] for name, record in fitted.items()}
        return cls(density, thresholds, fitted=bool(fitted))

    def ood_distances(self, features: torch.Tensor | None) -> list[float | None]:
        """The feature distance of each row of ``features`` ``(B, d)`` (None without a fitted density)."""
        if self.density is None or features is None:
            return [None] * (0 if features is None else len(features))
        return [round(float(d), 3) for d in self.density.distance(features)]

    def decide_on(self, data: Mapping[str, Any], ood_distance: float | None) -> GateResult:
        """The result of one input from its data as the bundle's preprocessing left it
        (:class:`~monai_ext.transforms.AssessInputd`'s ``gate_problems`` and scores, the segmenter's
        ``tta_disagreement``) and its feature distance."""
        problems = str(data.get(GATE_PROBLEMS) or "")
        failed = [tuple(p.split(": ", 1)) for p in problems.split("; ") if ": " in p]
        scores = {k: _number(data.get(k)) for k in IMAGE_SCORES}
        return self.decide(scores, failed, _number(data.get("tta_disagreement")), ood_distance)

    def decide(
        self,
        scores: Mapping[str, Any],
        problems: list[tuple[str, str]],
        tta: float | None,
        ood_distance: float | None,
    ) -> GateResult:
        """The result of one input from its :func:`image_checks` (scores and problems), the segmenter's
        ``tta`` disagreement and its feature distance (each None or NaN when not measured): every score
        beyond its threshold is a failed check, ``(check, reason)``, the reason with the score and threshold."""
        scores = {**scores, "tta_disagreement": tta, "ood_distance": ood_distance}
        if not self.enabled:
            return GateResult("off", [], scores)
        failed = list(problems)
        for name, bound in BOUNDS.items():
            value, threshold = _number(scores.get(bound.score)), self.thresholds[name]
            if beyond(value, threshold, bound.side):
                fit = "fitted" if self.fitted else "default, not fitted"
                why = f"{bound.says} ({bound.score} {value:.4g} {bound.side} {threshold:.4g}, {fit})"
                failed.append((bound.check, why))
        return GateResult(GateDecision.ABSTAIN if failed else GateDecision.ANSWER, failed, scores)


def _number(value: Any) -> float | None:
    """``value`` as a float, None for a value that is none or NaN (a check that was not made)."""
    try:
        value = float(torch.as_tensor(value).item()) if isinstance(value, torch.Tensor) else float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
