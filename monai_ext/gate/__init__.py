"""The input gate: "not assessable" instead of a probability for what is not a frontal chest radiograph
(:mod:`monai_ext.gate.gate`), from explainable checks (:mod:`monai_ext.gate.checks`) and the distance of the
classifier's features to the training images' (:mod:`monai_ext.gate.ood`)."""

from monai_ext.gate.checks import lung_geometry
from monai_ext.gate.gate import (
    ABSTAIN,
    CHECKS,
    GATE_FIELDS,
    MAX_TTA_DISAGREEMENT,
    GateDecision,
    GateResult,
    InputGate,
    image_checks,
)
from monai_ext.gate.ood import OOD_MARGIN, FeatureDensity, PenultimateFeatures, ledoit_wolf, ood_threshold

__all__ = [
    "ABSTAIN",
    "CHECKS",
    "GATE_FIELDS",
    "MAX_TTA_DISAGREEMENT",
    "OOD_MARGIN",
    "FeatureDensity",
    "GateDecision",
    "GateResult",
    "InputGate",
    "PenultimateFeatures",
    "image_checks",
    "ledoit_wolf",
    "lung_geometry",
    "ood_threshold",
]
