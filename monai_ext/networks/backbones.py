"""The classification backbones of the study, one row each: every fact the project keeps about a backbone.

This module imports nothing of the project, so that any layer may read it: the classifier builds from it,
the pretrained check finds the weights' file from it, Grad-CAM hooks its layer, the bench names it, and
the classification bundle's ``train.json`` keeps one training recipe per key of :data:`BACKBONES`
(a test holds the two key sets equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["BACKBONES", "Backbone"]


@dataclass(frozen=True)
class Backbone:
    """One torchvision ImageNet architecture as the classifier uses it.

    Args:
        name: the key the configs and command lines use (``backbone``).
        display_name: the architecture's name as papers and reports print it.
        builder: the ``torchvision.models`` function that builds it.
        weights: the ``torchvision.models`` enum of its ImageNet weights (``IMAGENET1K_V1`` is used).
        head: path of its last linear layer, replaced by one of ``num_classes`` outputs; its input is the
            penultimate features the input gate scores.
        saliency_layer: the layer whose activations Grad-CAM weighs (the last convolutional stage before
            pooling), as named inside :class:`~monai_ext.networks.TorchVisionClassifier`.
        saliency_stride: input pixels per cell of that layer: a Grad-CAM map of an ``s`` px input has
            ``s // saliency_stride`` cells a side.
    """

    name: str
    display_name: str
    builder: str
    weights: str
    head: str
    saliency_layer: str
    saliency_stride: int


#: backbone name -> :class:`Backbone`, in the study's order
BACKBONES: MappingProxyType[str, Backbone] = MappingProxyType(
    {
        b.name: b
        for b in (
            Backbone("resnet50", "ResNet50", "resnet50", "ResNet50_Weights", "fc", "net.layer4", 32),
            # the last ReLU of the features, before their last max pooling (features.52): a stride of 16
            Backbone("vgg19_bn", "VGG19_bn", "vgg19_bn", "VGG19_BN_Weights", "classifier.6", "net.features.51", 16),
            Backbone(
                "efficientnet_b7",
                "EfficientNet-B7",
                "efficientnet_b7",
                "EfficientNet_B7_Weights",
                "classifier.1",
                "net.features.8",
                32,
            ),
        )
    }
)
