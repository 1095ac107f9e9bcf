"""ImageNet classifiers of torchvision (ResNet50, VGG19_bn, EfficientNet-B7) with a new last layer."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

__all__ = ["BACKBONES", "TorchVisionClassifier"]

#: backbone name -> (torchvision builder, ImageNet weights enum name, path of the last linear layer)
BACKBONES = {
    "resnet50": ("resnet50", "ResNet50_Weights", "fc"),
    "vgg19_bn": ("vgg19_bn", "VGG19_BN_Weights", "classifier.6"),
    "efficientnet_b7": ("efficientnet_b7", "EfficientNet_B7_Weights", "classifier.1"),
}


class TorchVisionClassifier(nn.Module):
    """A torchvision ImageNet architecture whose last linear layer predicts ``num_classes`` logits.

    Args:
        backbone: ``"resnet50"``, ``"vgg19_bn"`` or ``"efficientnet_b7"``.
        num_classes: number of output classes.
        pretrained: start from torchvision's ImageNet weights (``IMAGENET1K_V1``); they must be in
            the torch hub cache or downloadable. Off by default.
    """

    def __init__(self, backbone: str = "resnet50", num_classes: int = 2, pretrained: bool = False) -> None:
        super().__init__()
        if not isinstance(pretrained, bool):
            raise TypeError(f"pretrained must be True or False, got {pretrained!r} (on the command line: --pretrained True)")
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        builder, weights_enum, last = BACKBONES[backbone]
        weights = getattr(torchvision.models, weights_enum).IMAGENET1K_V1 if pretrained else None
        self.backbone_name = backbone
        self.net = getattr(torchvision.models, builder)(weights=weights)
        parent_name, _, child = last.rpartition(".")
        parent = self.net.get_submodule(parent_name) if parent_name else self.net
        old = parent.get_submodule(child)
        setattr(parent, child, nn.Linear(old.in_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
