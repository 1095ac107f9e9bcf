"""What the bundles' configs call for their defaults and small derived values: each a named function,
so a config only wires. Computing a default path never writes data (the default dataset is written by
:func:`monai_ext.tools.synthetic.ensure_default_data`, in a bundle's ``initialize``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from monai_ext.constants import SYNTHETIC_ROOT

__all__ = [
    "class_weight_tensor",
    "default_data_path",
    "default_mask_dir",
]

#: the synthetic COVIDx-layout images and their true lung masks
_SYNTHETIC_PAIRS = {"covidx": "covidx-lung-gt"}


def default_data_path(*parts: str) -> str:
    """A path inside the embedded synthetic dataset (``data/synthetic/...``); nothing is written."""
    return str(SYNTHETIC_ROOT.joinpath(*parts))


def default_mask_dir(dataset_dir: str | os.PathLike | None) -> str | None:
    """The true lung masks of the synthetic dataset when ``dataset_dir`` is its COVIDx-layout folder,
    else None: a user's images are never paired with the synthetic masks."""
    if dataset_dir is None:
        return None
    for images, masks in _SYNTHETIC_PAIRS.items():
        if Path(dataset_dir).resolve() == (SYNTHETIC_ROOT / images).resolve():
            return default_data_path(masks)
    return None


def class_weight_tensor(weights: Sequence[float] | None, device: str | torch.device = "cpu") -> torch.Tensor | None:
    """The per-class loss weights as a float tensor on ``device`` (None: unweighted)."""
    return None if weights is None else torch.tensor(list(weights), dtype=torch.float32, device=device)
