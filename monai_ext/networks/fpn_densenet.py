"""FPN with a DenseNet121 encoder (segmentation-models-pytorch) as a MONAI network."""

from __future__ import annotations

import torch
from torch import nn

from monai_ext.networks.pretrained import SEGMENTER, require_pretrained

__all__ = ["FPNDenseNet121"]


class FPNDenseNet121(nn.Module):
    """Feature Pyramid Network on a DenseNet121 encoder, for 2-D lung segmentation.

    A thin MONAI-style wrapper of ``segmentation_models_pytorch.FPN``: it returns logits
    ``(B, out_channels, H, W)`` for inputs ``(B, in_channels, H, W)`` whose sides are multiples
    of 32 (the pipeline pads with ``DivisiblePadd(k=32)``). It scripts and traces for export.

    Args:
        spatial_dims: must be 2.
        in_channels: input channels (1 for a grey radiograph; ImageNet weights are adapted).
        out_channels: output channels (1: lung logits).
        pretrained: load ImageNet encoder weights (needs the weights in the torch hub cache or network access).
        decoder_dropout: dropout in the FPN decoder.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        pretrained: bool = False,
        decoder_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        require_pretrained(pretrained, SEGMENTER)
        if spatial_dims != 2:
            raise ValueError(f"FPNDenseNet121 is 2-D only, got spatial_dims={spatial_dims}")
        import segmentation_models_pytorch as smp

        self.net = smp.FPN(
            encoder_name="densenet121",
            encoder_weights="imagenet" if pretrained else None,
            in_channels=in_channels,
            classes=out_channels,
            decoder_dropout=decoder_dropout,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
