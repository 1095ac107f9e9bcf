"""Plausibility of a predicted lung mask: a mask can be well formed and still not be two lungs."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import TransformBackends
from scipy import ndimage

from monai_ext.constants import Keys
from monai_ext.gate.checks import EXPECTED_LUNG_REGIONS, LUNG_FRACTION_RANGE, MIN_LEFT_RIGHT_RATIO

__all__ = ["QUALITY_FIELDS", "LungMaskQualityd", "lung_mask_quality"]

logger = logging.getLogger(__name__)

#: share of the mask's area below which a separate piece is not counted as a lung region
MIN_REGION_SHARE = 0.02
#: longest side a mask is sampled down to (every n-th row and column) before it is checked: shares,
#: region counts and ratios of two lungs do not need more, and a very large mask stays cheap
QUALITY_SIDE = 512
#: the values :func:`lung_mask_quality` returns, as manifest and predictions columns
QUALITY_FIELDS = ("lung_fraction", "lung_regions", "left_right_ratio", Keys.MASK_FLAGS)


def lung_mask_quality(mask: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """Lung fraction, number of 8-connected regions (pieces under 2% of the mask not counted), left/right area ratio of a binary mask ``(rows, columns)``
    (or ``(1, rows, columns)``), and ``mask_flags``: the checks it fails, ``"; "``-joined (empty when plausible).
    Masks larger than :data:`QUALITY_SIDE` are checked on every n-th row and column."""
    array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    array = np.squeeze(array) > 0.5 if array.dtype != bool else np.squeeze(array)
    if array.ndim != 2:
        raise ValueError(f"a 2-D mask is expected, got shape {array.shape}")
    step = -(-max(array.shape) // QUALITY_SIDE)
    array = array[::step, ::step]
    fraction = float(array.mean())
    labels, found = ndimage.label(array, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:] if found else np.zeros(0)
    regions = int(np.sum(sizes >= MIN_REGION_SHARE * max(array.sum(), 1)))
    half = array.shape[1] // 2
    left, right = float(array[:, :half].sum()), float(array[:, array.shape[1] - half :].sum())
    ratio = min(left, right) / max(left, right) if max(left, right) > 0 else 0.0
    flags = []
    low, high = LUNG_FRACTION_RANGE
    if not low <= fraction <= high:
        flags.append(f"lung fraction {100 * fraction:.1f}% outside {100 * low:.0f}-{100 * high:.0f}%")
    if regions != EXPECTED_LUNG_REGIONS:
        flags.append(f"{regions} lung regions ({EXPECTED_LUNG_REGIONS} expected)")
    if ratio < MIN_LEFT_RIGHT_RATIO:
        flags.append(f"left/right area ratio {ratio:.2f} (below {MIN_LEFT_RIGHT_RATIO})")
    return {
        "lung_fraction": round(fraction, 4),
        "lung_regions": int(regions),
        "left_right_ratio": round(ratio, 3),
        Keys.MASK_FLAGS: "; ".join(flags),
    }


class LungMaskQualityd(MapTransform):
    """Put :func:`lung_mask_quality` of the mask under ``keys`` into the data (``lung_fraction``,
    ``lung_regions``, ``left_right_ratio``, ``mask_flags``) and log a flagged mask with its file name.

    Args:
        keys: the binary mask (one key).
        name_key: the item's name, for the log line.
        allow_missing_keys: don't raise when a key is missing.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, keys: KeysCollection, name_key: str = Keys.NAME, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.name_key = name_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            quality = lung_mask_quality(d[key])
            if quality[Keys.MASK_FLAGS]:
                logger.warning("%s: implausible lung mask: %s", d.get(self.name_key, key), quality[Keys.MASK_FLAGS])
            d.update(quality)
        return d
