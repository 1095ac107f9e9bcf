"""Networks MONAI lacks: the FPN-DenseNet121 lung segmenter (``fpn_densenet``) and the torchvision classifiers
(``classifier``) built from the backbone table (``backbones``); the check that pretrained weights can be had
(``pretrained``), mixed precision (``precision``), the network put on its device (``prepare``), and the best
weights swapped in for a while with the outputs over a loader (``weights``)."""

from monai_ext.networks.backbones import BACKBONES, Backbone
from monai_ext.networks.classifier import TorchVisionClassifier, feature_layer, saliency_layer
from monai_ext.networks.fpn_densenet import FPNDenseNet121
from monai_ext.networks.precision import autocast_dtype, cpu_has_fast_bf16, engine_amp, with_precision
from monai_ext.networks.prepare import prepare_network
from monai_ext.networks.pretrained import SEGMENTER, PretrainedWeightsError, check_pretrained, require_pretrained
from monai_ext.networks.weights import temporary_weights, unwrap, validation_outputs

__all__ = [
    "BACKBONES",
    "SEGMENTER",
    "Backbone",
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
    "temporary_weights",
    "unwrap",
    "validation_outputs",
    "with_precision",
]
