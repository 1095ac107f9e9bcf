"""Networks MONAI lacks: the FPN-DenseNet121 lung segmenter and the torchvision classifiers."""

from monai_ext.networks.classifier import TorchVisionClassifier
from monai_ext.networks.fpn_densenet import FPNDenseNet121
from monai_ext.networks.pretrained import check_pretrained

__all__ = ["FPNDenseNet121", "TorchVisionClassifier", "check_pretrained"]
