"""Networks MONAI lacks: the FPN-DenseNet121 lung segmenter."""

from monai_ext.networks.fpn_densenet import FPNDenseNet121

__all__ = ["FPNDenseNet121"]
