"""How much the passes of a test-time-augmented segmentation agree (:class:`~monai_ext.inferers.FlipTTAInferer`)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from monai_ext.constants import Keys

__all__ = ["LungMaskAgreement", "LungMaskAgreementD", "LungMaskAgreementDict", "LungMaskAgreementd"]


class LungMaskAgreement(Transform):
    """Split a two-channel test-time-augmented prediction ``(2, H, W)`` (mean logit, disagreement map) into
    the one-channel prediction and the score ``|disagreeing pixels| / |pixels any pass calls lung|``
    (``1 - IoU`` of the passes' masks; 0 when no pass finds lung). A one-channel prediction (a single
    pass) is returned as it is, with a NaN score."""

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH]

    def __call__(self, pred: torch.Tensor) -> tuple[torch.Tensor, float]:
        if pred.shape[0] != 2:
            return pred, math.nan
        lung, disagree = pred[:1], pred[1:] > 0.5
        union = (lung > 0) | disagree
        score = float(disagree.sum() / union.sum()) if bool(union.any()) else 0.0
        return lung, round(score, 4)


class LungMaskAgreementd(MapTransform):
    """Dictionary wrapper of :class:`LungMaskAgreement`: the prediction under ``keys`` becomes one channel,
    the score goes under ``score_key``.

    Args:
        keys: the prediction (``pred``).
        score_key: where the score goes.
        allow_missing_keys: don't raise when a key is missing.
    """

    backend: ClassVar[list[TransformBackends]] = LungMaskAgreement.backend

    def __init__(
        self, keys: KeysCollection, score_key: str = Keys.TTA_DISAGREEMENT, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.score_key = score_key
        self.split = LungMaskAgreement()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key], d[self.score_key] = self.split(d[key])
        return d


LungMaskAgreementD = LungMaskAgreementDict = LungMaskAgreementd
