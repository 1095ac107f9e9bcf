"""Dictionary form of chest X-ray loading."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from monai_ext.transforms.io.array import LoadCXR

__all__ = ["LoadCXRD", "LoadCXRDict", "LoadCXRd"]


class LoadCXRd(MapTransform):
    """Dictionary wrapper of :class:`LoadCXR`: replaces each key's file path by its image."""

    def __init__(
        self, keys: KeysCollection, dtype: torch.dtype | np.dtype = torch.float32, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadCXR(dtype=dtype)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


LoadCXRD = LoadCXRDict = LoadCXRd
