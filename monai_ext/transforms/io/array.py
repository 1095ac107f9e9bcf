"""Array form of chest X-ray loading."""

from __future__ import annotations

import os

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Transform

from monai_ext.data.image_reader import read_cxr

__all__ = ["LoadCXR"]


class LoadCXR(Transform):
    """Load one radiograph (PNG 8/16-bit, JPEG, DICOM) as a channel-first MetaTensor ``(1, rows, columns)``.

    Grey values are float in [0, 1], air dark (DICOM VOI window applied, MONOCHROME1 inverted).
    The metadata holds ``filename_or_obj``, ``spatial_shape`` (rows, columns of the file) and the
    reader's fields (``format``, and for DICOM ``modality``, ``photometric_interpretation`` ...).

    Raises:
        CXRReadError: the file cannot be read; the message names it and says why.
    """

    def __init__(self, dtype: torch.dtype | np.dtype = torch.float32) -> None:
        self.dtype = dtype

    def __call__(self, filename: str | os.PathLike) -> MetaTensor:
        image, meta = read_cxr(filename)
        meta["original_channel_dim"] = 0
        data = torch.as_tensor(image[None]).to(self.dtype)
        return MetaTensor(data, meta=meta)
