"""Temperature scaling of a classifier's logits: the array transform and its dictionary wrapper."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

__all__ = ["TemperatureScale", "TemperatureScaleD", "TemperatureScaleDict", "TemperatureScaled"]


class TemperatureScale(Transform):
    """Divide logits by a temperature fitted on validation (``models/calibration.json``); a softmax
    afterwards gives calibrated probabilities with the same ranking and argmax.

    Args:
        temperature: a positive number; 1.0 leaves the logits as they are.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH]

    def __init__(self, temperature: float = 1.0) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.temperature = float(temperature)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.temperature == 1.0 else logits / self.temperature


class TemperatureScaled(MapTransform):
    """Dictionary wrapper of :class:`TemperatureScale`.

    Args:
        keys: the logits (``pred``).
        temperature: see :class:`TemperatureScale`.
        allow_missing_keys: don't raise when a key is missing.
    """

    backend: ClassVar[list[TransformBackends]] = TemperatureScale.backend

    def __init__(self, keys: KeysCollection, temperature: float = 1.0, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scale = TemperatureScale(temperature)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scale(d[key])
        return d


TemperatureScaleD = TemperatureScaleDict = TemperatureScaled
