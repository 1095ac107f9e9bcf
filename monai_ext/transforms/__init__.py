"""Chest X-ray transforms, in MONAI's array and dictionary pairs."""

from monai_ext.transforms.io.array import LoadCXR
from monai_ext.transforms.io.dictionary import LoadCXRD, LoadCXRd, LoadCXRDict

__all__ = ["LoadCXR", "LoadCXRD", "LoadCXRDict", "LoadCXRd"]
