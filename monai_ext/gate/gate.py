"""The input gate: whether an input is a frontal chest radiograph this model may answer on, or not assessable.

Before a decision, each input passes every check below; one that fails makes the decision ``abstain``,
with the failed checks and their values as the reason:

- the DICOM header, when there is one: Modality CR or DX, BodyPartExamined the chest, ViewPosition PA or
  AP, grey pixels (:mod:`monai_ext.gate.checks`);
- the picture's own colour: a colour photograph is not a radiograph;
- the lung mask: plausible (two lungs, 5-60% of the image, balanced: the segmentation bundle's check),
  lying side by side and upright (not turned by 90 degrees, not upside down), darker than the
  mediastinum between them (not inverted);
- the segmenter's own doubt: its test-time passes (the image and its mirror image) disagree on the lungs
  (``tta_disagreement`` above :data:`MAX_TTA_DISAGREEMENT`);
- the classifier's features: farther from the training set's than the validation images go
  (:class:`~monai_ext.gate.ood.FeatureDensity`, fitted when training ends, ``models/gate.json``).

A check that cannot be made (no header, a mask read from a file without test-time passes, a model folder
without ``gate.json``) is not held against the input. ``--gate False`` turns the gate off (the decision is
then the class at the threshold, as before, and the outputs say ``gate: off``).
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
    body_part_check,
    colour_check,
    lung_geometry,
    modality_check,
    orientation_check,
    photometric_check,
    polarity_check,
    view_check,
)
from monai_ext.gate.ood import FeatureDensity

__all__ = [
    "ABSTAIN",
    "CHECKS",
    "GATE_FIELDS",
    "GATE_PROBLEMS",
    "MAX_TTA_DISAGREEMENT",
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
#: the most the segmenter's test-time passes may disagree on the lungs (1 - IoU of their masks)
MAX_TTA_DISAGREEMENT = 0.15
#: where the preprocessing leaves the problems its checks found ("check: reason", "; "-joined)
GATE_PROBLEMS = "gate_problems"
#: the gate's checks, by the name a failed one is reported under, and what each says in a word
CHECKS = {
    "modality": "not a radiograph",
    "body_part": "not the chest",
    "view_position": "not a frontal view",
    "photometric": "a colour image",
    "colourfulness": "a colour picture",
    "lung_mask": "no plausible lung mask",
    "orientation": "turned or upside down",
    "polarity": "inverted grey values",
    "tta_disagreement": "segmentation unstable",
    "ood_distance": "unlike the training images",
}
#: the gate's columns in predictions.csv, in order
GATE_FIELDS = (
    "gate",
    "abstain_reason",
    "ood_distance",
    "tta_disagreement",
    "upright",
    "mediastinum_contrast",
    "colourfulness",
)


def image_checks(
    meta: Mapping[str, Any], image: np.ndarray | None, mask: np.ndarray | None, mask_flags: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """The checks of one input that need neither network: its header (``meta``: the reader's
    ``modality``, ``body_part``, ``view_position``, ``photometric_interpretation``, ``colourfulness``), and
    its grey ``image`` ``(rows, columns)`` with its binary lung ``mask`` on the same grid and the mask's
    plausibility flags. Returns the scores and the problems found, ``(check, reason)`` each (empty when all
    pass; the checks are named as in :data:`CHECKS`)."""
    problems: list[tuple[str, str]] = []
    scores: dict[str, Any] = {}
    checks = [
        ("modality", modality_check(meta.get("modality"))),
        ("body_part", body_part_check(meta.get("body_part"))),
        ("view_position", view_check(meta.get("view_position"))),
        ("photometric", photometric_check(meta.get("photometric_interpretation"))),
        ("colourfulness", colour_check(meta.get("colourfulness"))),
    ]
    geometry = None
    if mask is not None:
        geometry = lung_geometry(mask, image)
        checks += [("orientation", orientation_check(geometry)), ("polarity", polarity_check(geometry))]
        if mask_flags:
            problems.append(("lung_mask", f"implausible lung mask ({mask_flags})"))
    for name, (value, problem) in checks:
        if problem:
            problems.append((name, problem))
        if name == "colourfulness":
            scores[name] = value
    for name in ("upright", "mediastinum_contrast"):
        scores[name] = (geometry or {}).get(name)
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
        out = {"gate": self.gate, "abstain_reason": "; ".join(self.reasons)}
        for name in GATE_FIELDS[2:]:
            value = self.scores.get(name)
            out[name] = "" if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 4)
        return out


class InputGate:
    """The gate of one classifier (see the module's docs).

    Args:
        density: the training features' density (``models/gate.json`` and ``gate_features.pt``), or None.
        ood_threshold: the largest feature distance answered on (set on validation at training's end).
        max_tta_disagreement: the most the segmenter's test-time passes may disagree.
        enabled: False answers on everything (``gate: off``).
    """

    def __init__(
        self,
        density: FeatureDensity | None = None,
        ood_threshold: float | None = None,
        max_tta_disagreement: float = MAX_TTA_DISAGREEMENT,
        enabled: bool = True,
    ) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"gate must be True or False, got {enabled!r} (on the command line: --gate False)")
        self.density = density
        self.ood_threshold = ood_threshold
        self.max_tta_disagreement = max_tta_disagreement
        self.enabled = enabled

    @classmethod
    def from_model_folder(cls, folder: Any, enabled: bool = True) -> InputGate:
        """The gate of a :class:`~monai_ext.bundle.ModelFolder` (its out-of-distribution part when the folder has one)."""
        density, threshold = folder.gate_density() if enabled else (None, None)
        return cls(density, threshold, enabled=enabled)

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
        scores = {k: _number(data.get(k)) for k in ("upright", "mediastinum_contrast", "colourfulness")}
        return self.decide(scores, failed, _number(data.get("tta_disagreement")), ood_distance)

    def decide(
        self,
        scores: Mapping[str, Any],
        problems: list[tuple[str, str]],
        tta: float | None,
        ood_distance: float | None,
    ) -> GateResult:
        """The result of one input from its :func:`image_checks`, the segmenter's ``tta`` disagreement and
        its feature distance (either None or NaN when not measured)."""
        scores = {**scores, "tta_disagreement": tta, "ood_distance": ood_distance}
        if not self.enabled:
            return GateResult("off", [], scores)
        failed = list(problems)
        if tta is not None and not math.isnan(tta) and tta > self.max_tta_disagreement:
            why = (
                f"the segmenter's test-time passes disagree on the lungs ({tta:.3f} above {self.max_tta_disagreement})"
            )
            failed.append(("tta_disagreement", why))
        if ood_distance is not None and self.ood_threshold is not None and ood_distance > self.ood_threshold:
            why = f"unlike the training images (feature distance {ood_distance:.1f} above {self.ood_threshold:.1f})"
            failed.append(("ood_distance", why))
        return GateResult(GateDecision.ABSTAIN if failed else GateDecision.ANSWER, failed, scores)


def _number(value: Any) -> float | None:
    """``value`` as a float, None for a value that is none or NaN (a check that was not made)."""
    try:
        value = float(torch.as_tensor(value).item()) if isinstance(value, torch.Tensor) else float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
