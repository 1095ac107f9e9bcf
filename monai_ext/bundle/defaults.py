"""What the bundles' configs call for their defaults and small derived values: each a named function,
so a config only wires. Computing a default path never writes data; reading it does."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from monai_ext.constants import SYNTHETIC_ROOT

__all__ = [
    "class_weight_tensor",
    "default_data_path",
    "default_mask_dir",
    "ensure_default_data",
]

logger = logging.getLogger(__name__)

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


def ensure_default_data(path: str | os.PathLike | None) -> None:
    """Write the synthetic default dataset (seed 0, as ``make data``; about 30 s) when ``path`` lies inside
    it and it is not there yet. Called by the functions that read data, never by a default's expression."""
    if path is None or not Path(path).resolve().is_relative_to(SYNTHETIC_ROOT.resolve()):
        return
    if (SYNTHETIC_ROOT / "synthetic.json").is_file():
        return
    from monai_ext.synthetic.dataset import DEFAULTS, write_synthetic_dataset

    logger.warning("writing the synthetic default dataset to %s (first use, about 30 s)", SYNTHETIC_ROOT)
    write_synthetic_dataset(SYNTHETIC_ROOT, **DEFAULTS)


def class_weight_tensor(weights: Sequence[float] | None, device: str | torch.device = "cpu") -> torch.Tensor | None:
    """The per-class loss weights as a float tensor on ``device`` (None: unweighted)."""
    return None if weights is None else torch.tensor(list(weights), dtype=torch.float32, device=device)
