"""The input gate: "not assessable" instead of a probability for what is not a frontal chest radiograph
(:mod:`monai_ext.gate.gate`), from explainable checks (:mod:`monai_ext.gate.checks`) and the distance of the
classifier's features to the training images' (:mod:`monai_ext.gate.ood`), each with a threshold fitted at a
stated false-refusal rate (:mod:`monai_ext.gate.thresholds`)."""

from monai_ext.gate.checks import image_detail, lung_geometry
from monai_ext.gate.gate import (
    ABSTAIN,
    CHECKS,
    GATE_FIELDS,
    GATE_PROBLEMS,
    IMAGE_SCORES,
    GateDecision,
    GateResult,
    InputGate,
    image_checks,
)
from monai_ext.gate.ood import OOD_MARGIN, FeatureDensity, PenultimateFeatures, ledoit_wolf, ood_threshold
from monai_ext.gate.thresholds import BOUNDS, CHECK_RATE, GATE_RATE, MAX_TTA_DISAGREEMENT, fit_thresholds

__all__ = [
    "ABSTAIN",
    "BOUNDS",
    "CHECKS",
    "CHECK_RATE",
    "GATE_FIELDS",
    "GATE_PROBLEMS",
    "GATE_RATE",
    "IMAGE_SCORES",
    "MAX_TTA_DISAGREEMENT",
    "OOD_MARGIN",
    "FeatureDensity",
    "GateDecision",
    "GateResult",
    "InputGate",
    "PenultimateFeatures",
    "fit_thresholds",
    "image_checks",
    "image_detail",
    "ledoit_wolf",
    "lung_geometry",
    "ood_threshold",
]
