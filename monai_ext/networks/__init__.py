"""Networks MONAI lacks: the FPN-DenseNet121 lung segmenter and the torchvision classifiers."""

from monai_ext.networks.classifier import SALIENCY_LAYERS, TorchVisionClassifier, feature_layer, saliency_layer
from monai_ext.networks.fpn_densenet import FPNDenseNet121
from monai_ext.networks.precision import autocast_dtype, cpu_has_fast_bf16, engine_amp, with_precision
from monai_ext.networks.prepare import prepare_network
from monai_ext.networks.pretrained import SEGMENTER, PretrainedWeightsError, check_pretrained, require_pretrained

__all__ = [
    "SALIENCY_LAYERS",
    "SEGMENTER",
    "FPNDenseNet121",
    "PretrainedWeightsError",
    "TorchVisionClassifier",
    "autocast_dtype",
    "check_pretrained",
    "cpu_has_fast_bf16",
    "engine_amp",
    "feature_layer",
    "prepare_network",
    "require_pretrained",
    "saliency_layer",
    "with_precision",
]
