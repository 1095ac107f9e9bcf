"""BatchNorm statistics recomputed for the current weights before each validation ("precise BN").

In training, BatchNorm normalises with each batch's own statistics; at evaluation it uses running
averages kept along the way. After a short run from random weights those averages still carry their
starting values and the statistics of weights long since changed: in the deep stages of EfficientNet
they are orders of magnitude off, and the evaluated network gives every image the same output. Running
a few training batches through the current weights with every BatchNorm layer averaging exactly
(cumulative average, the rest of the network in evaluation mode: no dropout, no stochastic depth)
gives the statistics the weights actually produce. PyTorch's ``torch.optim.swa_utils.update_bn`` does
the same for SWA, with the whole network in training mode and a loader of tensors.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from ignite.engine import Engine, Events
from torch import nn

from monai_ext.constants import Keys

__all__ = ["PreciseBatchNorm", "recompute_batchnorm_statistics"]


def _batchnorm_layers(network: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_batchnorm_statistics(
    network: nn.Module, batches: Iterable, num_batches: int, device: str | torch.device, key: str = Keys.IMAGE
) -> int:
    """Reset every BatchNorm layer's running statistics and average them exactly over up to
    ``num_batches`` of ``batches`` (dictionaries with ``key``, or tensors), the rest of the network in
    evaluation mode. Returns the number of batches used (0: no BatchNorm layer, nothing changed).
    The network's training mode and the layers' momenta are restored."""
    layers = _batchnorm_layers(network)
    if not layers or num_batches <= 0:
        return 0
    was_training, momenta = network.training, [m.momentum for m in layers]
    network.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
        layer.train()
    used = 0
    try:
        for batch in batches:
            if used >= num_batches:
                break
            inputs = batch[key] if isinstance(batch, dict) else batch
            network(torch.as_tensor(inputs).to(device))
            used += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        network.train(was_training)
    return used


class PreciseBatchNorm:
    """Ignite handler: :func:`recompute_batchnorm_statistics` on ``num_batches`` batches of ``loader``
    at the end of every ``interval``-th epoch. Attach it to the trainer before ``ValidationHandler``,
    so the validation, the best model and the resume checkpoint all carry the recomputed statistics.

    Args:
        network: the network being trained.
        loader: batches to average over (the training data loader).
        num_batches: batches per recomputation (0 turns the handler off).
        interval: epochs between recomputations (the validation interval).
        device: where the network runs.
    """

    def __init__(
        self,
        network: nn.Module,
        loader: Iterable,
        num_batches: int = 20,
        interval: int = 1,
        device: str | torch.device = "cpu",
    ) -> None:
        self.network = network
        self.loader = loader
        self.num_batches = num_batches
        self.interval = interval
        self.device = device

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)

    def __call__(self, engine: Engine) -> None:
        used = recompute_batchnorm_statistics(self.network, self.loader, self.num_batches, self.device)
        if used:
            engine.logger.info("BatchNorm statistics recomputed over %d training batches", used)
