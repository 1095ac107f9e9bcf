"""How much of a saliency map lies inside the lungs."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["in_mask_fraction"]


def in_mask_fraction(saliency: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> float:
    """The share of a non-negative saliency map's total inside a binary mask of the same shape:
    ``sum(saliency * mask) / sum(saliency)``; NaN for a map that is zero everywhere (nothing to share).

    A map spread evenly over the image scores the mask's area share, which is the figure to compare it with.
    """
    saliency = torch.as_tensor(saliency, dtype=torch.float64)
    mask = torch.as_tensor(mask, dtype=torch.float64)
    if saliency.shape != mask.shape:
        raise ValueError(f"saliency map {tuple(saliency.shape)} and mask {tuple(mask.shape)} differ in shape")
    if (saliency < 0).any():
        raise ValueError("saliency map has negative values: pass the map after its ReLU")
    total = float(saliency.sum())
    return float((saliency * (mask > 0.5)).sum()) / total if total > 0 else float("nan")
