"""Chest X-ray transforms, in MONAI's array and dictionary pairs: loading, lung masks, temperature scaling."""

from monai_ext.transforms.calibration import (
    TemperatureScale,
    TemperatureScaleD,
    TemperatureScaled,
    TemperatureScaleDict,
)
from monai_ext.transforms.gate import AssessInput, AssessInputD, AssessInputd, AssessInputDict
from monai_ext.transforms.io.array import LoadCXR
from monai_ext.transforms.io.dictionary import LoadCXRD, LoadCXRd, LoadCXRDict
from monai_ext.transforms.mask.agreement import (
    LungMaskAgreement,
    LungMaskAgreementD,
    LungMaskAgreementd,
    LungMaskAgreementDict,
)
from monai_ext.transforms.mask.array import INPUT_MODES, ApplyLungMask, AsLabelImage, SaveLungMask, needs_lung_mask
from monai_ext.transforms.mask.dictionary import (
    ApplyLungMaskD,
    ApplyLungMaskd,
    ApplyLungMaskDict,
    AsLabelImageD,
    AsLabelImaged,
    AsLabelImageDict,
    SaveLungMaskD,
    SaveLungMaskd,
    SaveLungMaskDict,
)
from monai_ext.transforms.mask.quality import QUALITY_FIELDS, LungMaskQualityd, lung_mask_quality

__all__ = [
    "INPUT_MODES",
    "QUALITY_FIELDS",
    "ApplyLungMask",
    "ApplyLungMaskD",
    "ApplyLungMaskDict",
    "ApplyLungMaskd",
    "AsLabelImage",
    "AsLabelImageD",
    "AsLabelImageDict",
    "AsLabelImaged",
    "AssessInput",
    "AssessInputD",
    "AssessInputDict",
    "AssessInputd",
    "LoadCXR",
    "LoadCXRD",
    "LoadCXRDict",
    "LoadCXRd",
    "LungMaskAgreement",
    "LungMaskAgreementD",
    "LungMaskAgreementDict",
    "LungMaskAgreementd",
    "LungMaskQualityd",
    "SaveLungMask",
    "SaveLungMaskD",
    "SaveLungMaskDict",
    "SaveLungMaskd",
    "TemperatureScale",
    "TemperatureScaleD",
    "TemperatureScaleDict",
    "TemperatureScaled",
    "lung_mask_quality",
    "needs_lung_mask",
]
