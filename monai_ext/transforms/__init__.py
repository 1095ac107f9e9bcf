"""Chest X-ray transforms, in MONAI's array and dictionary pairs."""

from monai_ext.transforms.io.array import LoadCXR
from monai_ext.transforms.io.dictionary import LoadCXRD, LoadCXRd, LoadCXRDict
from monai_ext.transforms.mask.array import SaveLungMask
from monai_ext.transforms.mask.dictionary import SaveLungMaskD, SaveLungMaskd, SaveLungMaskDict

__all__ = [
    "LoadCXR",
    "LoadCXRD",
    "LoadCXRDict",
    "LoadCXRd",
    "SaveLungMask",
    "SaveLungMaskD",
    "SaveLungMaskDict",
    "SaveLungMaskd",
]
