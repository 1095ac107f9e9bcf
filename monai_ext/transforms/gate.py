"""The input gate's measurements of a loaded input that need no network: header, colour, fine detail, lung mask."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from monai_ext.constants import Keys
from monai_ext.gate import GATE_PROBLEMS, IMAGE_SCORES, image_checks
from monai_ext.transforms.mask.quality import lung_mask_quality

__all__ = ["AssessInput", "AssessInputD", "AssessInputDict", "AssessInputd"]


class AssessInput(Transform):
    """The measurements of :func:`~monai_ext.gate.image_checks` on a loaded radiograph ``(1, rows, columns)``
    (its metadata: the reader's header fields and colourfulness) and its lung mask, at the input's size.
    Returns ``(scores, problems)``."""

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[dict[str, Any], list[str]]:
        grey = torch.as_tensor(image).detach().float().cpu().numpy()[0]
        binary, quality = None, None
        if mask is not None:
            binary = torch.as_tensor(mask).detach().float().cpu().numpy()[0]
            binary = binary > 0.5 * binary.max() if binary.max() > 0 else binary > 0
            quality = lung_mask_quality(binary)
        return image_checks(getattr(image, "meta", {}), grey, binary, quality)


class AssessInputd(MapTransform):
    """Dictionary wrapper of :class:`AssessInput`: puts the problems found under ``gate_problems`` and the
    scores (:data:`~monai_ext.gate.IMAGE_SCORES`, NaN where not measured) beside, for the gate's decision
    after the classifier (:class:`~monai_ext.handlers.InputGateHandler`).

    Args:
        keys: the loaded radiograph (one key).
        mask_key: its lung mask (loaded or predicted); without one, the mask checks are not made.
        enabled: off, nothing is checked (``--gate False``).
        allow_missing_keys: don't raise when a key is missing.
    """

    backend: ClassVar[list[TransformBackends]] = AssessInput.backend

    def __init__(
        self, keys: KeysCollection, mask_key: str = Keys.LUNG, enabled: bool = True, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.enabled = enabled
        self.assess = AssessInput()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if not self.enabled:
            return d
        for key in self.key_iterator(d):
            mask = d.get(self.mask_key)
            scores, problems = self.assess(d[key], mask if isinstance(mask, (torch.Tensor, np.ndarray)) else None)
            d[GATE_PROBLEMS] = "; ".join(f"{check}: {reason}" for check, reason in problems)
            d.update({name: math.nan if scores.get(name) is None else float(scores[name]) for name in IMAGE_SCORES})
        return d


AssessInputD = AssessInputDict = AssessInputd
