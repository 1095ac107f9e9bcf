"""Inferers MONAI lacks: test-time augmentation of the lung segmenter with mirror images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.inferers import Inferer
from torch import nn

__all__ = ["FlipTTAInferer"]


class FlipTTAInferer(Inferer):
    """The network on its input and on mirror images of it (each mirrored back), for a one-channel sigmoid
    segmenter. Returns two channels: the logit of the passes' mean probability, and where the passes'
    binary masks (probability above 0.5) disagree (1) or agree (0).

    :class:`~monai_ext.transforms.LungMaskAgreementd`, first in the postprocessing, turns the second channel
    into one score per image (``1 - IoU`` of the passes' masks, ``tta_disagreement``: 0 when they agree, 1
    when they share nothing; high on what the segmenter has not seen) and drops it, so the rest of the
    postprocessing sees the mean prediction as if from a single pass.

    Args:
        flips: the spatial axes of the input ``(B, C, H, W)`` to mirror per pass; None is the input itself.
            The default, the input and its left-right mirror image, is what the training augmentation
            (``RandFlipd`` on the columns) taught the network to segment alike.
    """

    def __init__(self, flips: Sequence[int | None] = (None, 3)) -> None:
        super().__init__()
        self.flips = list(flips)

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        probs = []
        for axis in self.flips:
            x = inputs if axis is None else torch.flip(inputs, dims=[axis])
            p = torch.sigmoid(network(x, *args, **kwargs).float())
            probs.append(p if axis is None else torch.flip(p, dims=[axis]))
        stack = torch.stack(probs)
        masks = stack > 0.5
        disagree = (masks.any(dim=0) & ~masks.all(dim=0)).float()
        return torch.cat([torch.logit(stack.mean(dim=0).clamp(1e-6, 1 - 1e-6)), disagree], dim=1)
