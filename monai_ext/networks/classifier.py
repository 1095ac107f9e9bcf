"""ImageNet classifiers of torchvision (ResNet50, VGG19_bn, EfficientNet-B7) with a new last layer."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from monai_ext.networks.backbones import BACKBONES
from monai_ext.networks.pretrained import require_pretrained

__all__ = ["TorchVisionClassifier", "feature_layer", "saliency_layer"]


def _unwrapped_classifier(network: nn.Module, what: str) -> tuple[TorchVisionClassifier, str]:
    """The :class:`TorchVisionClassifier` inside ``network`` (DistributedDataParallel or DataParallel wrappers
    taken off) and the ``module.`` prefix of its names; refuses any other network (a TorchScript export has
    no layers to hook)."""
    prefix = ""
    while isinstance(getattr(network, "module", None), nn.Module):
        network, prefix = network.module, prefix + "module."
    if not isinstance(network, TorchVisionClassifier) or getattr(network, "backbone_name", None) not in BACKBONES:
        raise TypeError(
            f"no {what} is known for a {type(network).__name__}: it needs the bundle's "
            "TorchVisionClassifier (not a TorchScript export), or the layer named explicitly"
        )
    return network, prefix


def saliency_layer(network: nn.Module) -> str:
    """The name of ``network``'s Grad-CAM target layer (:attr:`Backbone.saliency_layer
    <monai_ext.networks.backbones.Backbone.saliency_layer>`), with the ``module.``
    prefix of a DistributedDataParallel or DataParallel wrapper. Refuses a network that is not a
    :class:`TorchVisionClassifier` (a TorchScript export has no layers to hook): name the layer instead."""
    classifier, prefix = _unwrapped_classifier(network, "Grad-CAM layer")
    return prefix + BACKBONES[classifier.backbone_name].saliency_layer


def feature_layer(network: nn.Module) -> nn.Module:
    """``network``'s last linear layer, whose input is the penultimate features (the input gate's
    out-of-distribution score, :class:`~monai_ext.gate.PenultimateFeatures`)."""
    classifier, _ = _unwrapped_classifier(network, "feature layer")
    return classifier.net.get_submodule(BACKBONES[classifier.backbone_name].head)


class TorchVisionClassifier(nn.Module):
    """A torchvision ImageNet architecture whose last linear layer predicts ``num_classes`` logits.

    Args:
        backbone: ``"resnet50"``, ``"vgg19_bn"`` or ``"efficientnet_b7"``.
        num_classes: number of output classes.
        pretrained: start from torchvision's ImageNet weights (``IMAGENET1K_V1``); they must be in
            the torch hub cache or downloadable (checked at once: :func:`~monai_ext.networks.require_pretrained`).
            Off by default.
        bn_momentum: momentum of every BatchNorm layer's running statistics: a float, ``None`` for
            PyTorch's cumulative average (every training batch weighs the same; the starting values are
            forgotten at the first batch), or ``"backbone"`` to keep the backbone's. torchvision's
            EfficientNet ships 0.01: after the few hundred steps of a short run from random weights its
            running statistics still carry their starting values, orders of magnitude off in the deep
            stages, and its outputs at evaluation are the same for every image.
        stochastic_depth_prob: EfficientNet only: the largest probability of skipping a residual block
            in training (torchvision's B7: 0.5); None keeps it. Statistics gathered with blocks
            skipped do not fit the network evaluated with all of them, which a short run cannot outgrow.
        zero_init_residual: start the last BatchNorm scale of every residual branch at zero (Goyal et al.
            2017), so that each residual block starts as the identity and a deep network trained from
            random weights starts as a shallow one; ignored for VGG (no residual blocks) and with
            ``pretrained`` weights. EfficientNet-B7 from random weights needs it to learn in a few epochs.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        num_classes: int = 2,
        pretrained: bool = False,
        bn_momentum: float | str | None = "backbone",
        stochastic_depth_prob: float | None = None,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {backbone!r}")
        require_pretrained(pretrained, backbone)
        table = BACKBONES[backbone]
        weights = getattr(torchvision.models, table.weights).IMAGENET1K_V1 if pretrained else None
        self.backbone_name = backbone
        options = {}
        if stochastic_depth_prob is not None:
            if not backbone.startswith("efficientnet"):
                raise ValueError(f"stochastic_depth_prob is an EfficientNet setting, not one of {backbone}")
            options["stochastic_depth_prob"] = stochastic_depth_prob
        self.net = getattr(torchvision.models, table.builder)(weights=weights, **options)
        parent_name, _, child = table.head.rpartition(".")
        parent = self.net.get_submodule(parent_name) if parent_name else self.net
        old = parent.get_submodule(child)
        setattr(parent, child, nn.Linear(old.in_features, num_classes))
        if zero_init_residual and not pretrained:  # ImageNet weights are kept as they are
            _zero_init_residual(self.net)
        if bn_momentum != "backbone":
            for module in self.net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.momentum = bn_momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _zero_init_residual(net: nn.Module) -> None:
    """Zero the last BatchNorm scale of each residual branch: ResNet bottlenecks (``bn3``) and
    EfficientNet MBConv blocks with a skip connection (the projection's BatchNorm)."""
    for module in net.modules():
        if isinstance(module, torchvision.models.resnet.Bottleneck):
            nn.init.zeros_(module.bn3.weight)
        elif isinstance(module, torchvision.models.efficientnet.MBConv) and module.use_res_connect:
            nn.init.zeros_(module.block[-1][1].weight)
