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

    An image that is already loaded (a 2-D or ``(1, rows, columns)`` array or MetaTensor, as MONAI
    Deploy operators pass them) is passed through as a channel-first MetaTensor, its metadata kept:
    so one bundle config serves files and in-memory images.

    Raises:
        CXRReadError: the file cannot be read; the message names it and says why.
    """

    def __init__(self, dtype: torch.dtype | np.dtype = torch.float32) -> None:
        self.dtype = dtype

    def __call__(self, filename: str | os.PathLike | np.ndarray | torch.Tensor) -> MetaTensor:
        if isinstance(filename, (np.ndarray, torch.Tensor)):
            return self._loaded(filename)
        image, meta = read_cxr(filename)
        meta["original_channel_dim"] = 0
        data = torch.as_tensor(image[None]).to(self.dtype)
        return MetaTensor(data, meta=meta)

    def _loaded(self, image: np.ndarray | torch.Tensor) -> MetaTensor:
        meta = dict(image.meta) if isinstance(image, MetaTensor) else {}
        data = torch.as_tensor(image.as_tensor() if isinstance(image, MetaTensor) else image).to(self.dtype)
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3 or data.shape[0] != 1:
            raise ValueError(
                f"a loaded radiograph must be (rows, columns) or (1, rows, columns), got {tuple(data.shape)}"
            )
        meta.setdefault("spatial_shape", np.asarray(data.shape[1:]))
        meta["original_channel_dim"] = 0
        return MetaTensor(data, meta=meta)
