"""Networks MONAI lacks: the FPN-DenseNet121 lung segmenter and the torchvision classifiers."""

from monai_ext.networks.classifier import TorchVisionClassifier
from monai_ext.networks.fpn_densenet import FPNDenseNet121
from monai_ext.networks.precision import autocast_dtype, cpu_has_fast_bf16, engine_amp, with_precision
from monai_ext.networks.pretrained import check_pretrained

__all__ = [
    "FPNDenseNet121",
    "TorchVisionClassifier",
    "autocast_dtype",
    "check_pretrained",
    "cpu_has_fast_bf16",
    "engine_amp",
    "with_precision",
]
