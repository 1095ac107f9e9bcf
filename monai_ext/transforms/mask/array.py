"""Array forms of the lung-mask transforms."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Transform

from monai_ext.data.image_writer import mask_name_for, write_png

__all__ = ["SaveLungMask"]


class SaveLungMask(Transform):
    """Write a binary mask ``(1, rows, columns)`` or ``(rows, columns)`` as a 0/255 grey PNG.

    The file is ``output_dir / mask_name_for(name)``: the input's relative path with a ``.png``
    suffix, so ``train/a.dcm`` gives ``train/a.png``. It is written to a temporary name, then renamed.
    Returns the mask unchanged.
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)

    def __call__(self, mask: torch.Tensor | np.ndarray, name: str) -> torch.Tensor | np.ndarray:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2:
            raise ValueError(f"{name}: a 2-D mask or one channel is expected, got shape {array.shape}")
        write_png(np.where(array > 0.5, 255, 0).astype(np.uint8), self.output_dir / mask_name_for(name))
        return mask
