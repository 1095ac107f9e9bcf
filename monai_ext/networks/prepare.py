"""One call that readies a bundle's network for the device: channels-last memory, plain tensors at its
input, and the precision ``amp`` asks for."""

from __future__ import annotations

import logging

import torch
from monai.data import MetaTensor
from torch import nn

from monai_ext.networks.precision import autocast_dtype, with_precision

__all__ = ["prepare_network"]

logger = logging.getLogger(__name__)


def _plain_tensors(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: hand the network ``torch.Tensor`` views of its ``MetaTensor`` inputs. MONAI's
    metadata tracking dispatches every op of the forward pass through ``MetaTensor.__torch_function__``
    (about a tenth of the forward time of ResNet50 and FPN-DenseNet121 on a CPU) and the outputs carry
    nothing a loss, a metric or ``Invertd`` reads: ``Invertd`` takes its geometry from the input image."""
    return tuple(a.as_tensor() if isinstance(a, MetaTensor) else a for a in args)


def prepare_network(network: nn.Module, device: str | torch.device, amp: bool) -> nn.Module:
    """``network`` moved to ``device`` in channels-last memory format, fed plain tensors (its
    ``MetaTensor`` inputs are unwrapped by a forward pre-hook) and set up for ``amp`` by
    :func:`~monai_ext.networks.with_precision`. Weights, their names and the class are untouched, so
    checkpoints and TorchScript export see the network as it is defined. A TorchScript network (an
    exported ``model.ts`` given as ``network_def``) is only moved to ``device``. Returned for use in configs::

        "network": "$monai_ext.networks.prepare_network(@network_def, @device, @amp)"
    """
    if isinstance(network, torch.jit.ScriptModule):  # an exported model takes no Python hooks: it runs as exported
        if autocast_dtype(device, amp) is not None and torch.device(device).type == "cpu":
            logger.warning("amp is not applied to a TorchScript network on the CPU; it runs in its exported precision")
        return network.to(device)
    network = network.to(device, memory_format=torch.channels_last)
    network.register_forward_pre_hook(_plain_tensors)
    return with_precision(network, device, amp)
