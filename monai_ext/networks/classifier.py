"""ImageNet classifiers of torchvision (ResNet50, VGG19_bn, EfficientNet-B7) with a new last layer."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from monai_ext.constants import BACKBONES
from monai_ext.networks.pretrained import check_pretrained

__all__ = ["TorchVisionClassifier"]

#: backbone name (:data:`~monai_ext.constants.BACKBONES`) -> (torchvision builder, ImageNet weights enum name,
#: path of the last linear layer)
ARCHITECTURES = {
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
        check_pretrained(pretrained)
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {backbone!r}")
        builder, weights_enum, last = ARCHITECTURES[backbone]
        weights = getattr(torchvision.models, weights_enum).IMAGENET1K_V1 if pretrained else None
        self.backbone_name = backbone
        self.net = getattr(torchvision.models, builder)(weights=weights)
        parent_name, _, child = last.rpartition(".")
        parent = self.net.get_submodule(parent_name) if parent_name else self.net
        old = parent.get_submodule(child)
        setattr(parent, child, nn.Linear(old.in_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
