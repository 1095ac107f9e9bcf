"""Networks MONAI lacks: the FPN-DenseNet121 lung segmenter and the torchvision classifiers."""

from monai_ext.networks.classifier import BACKBONES, TorchVisionClassifier
from monai_ext.networks.fpn_densenet import FPNDenseNet121

__all__ = ["BACKBONES", "FPNDenseNet121", "TorchVisionClassifier"]
