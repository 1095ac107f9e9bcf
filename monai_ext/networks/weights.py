"""What the handlers that fit something at training's end need from a network: the best weights swapped in
for a while, and its outputs over a loader."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from monai_ext.constants import Keys

__all__ = ["temporary_weights", "unwrap", "validation_outputs"]


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The network inside a ``DataParallel`` or ``DistributedDataParallel`` wrapper (else ``network``)."""
    return (
        network.module
        if isinstance(network, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel))
        else network
    )


@contextlib.contextmanager
def temporary_weights(network: torch.nn.Module, weights: Path, device: str | torch.device) -> Iterator[None]:
    """``network`` with the weights of the file ``weights`` (the best model) for the block, in evaluation
    mode; its own weights and mode are put back after."""
    net = unwrap(network)
    current = {k: v.detach().clone() for k, v in net.state_dict().items()}
    was_training = network.training
    net.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    network.eval()
    try:
        yield
    finally:
        net.load_state_dict(current)
        network.train(was_training)


@torch.no_grad()
def validation_outputs(
    network: torch.nn.Module, loader: Iterable, device: str | torch.device, features: Any = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(logits (N, C), labels (N,), features (N, d) or None)`` of ``network`` in evaluation mode over
    ``loader``'s batches; the features are the penultimate ones that ``features`` (a
    :class:`~monai_ext.gate.PenultimateFeatures`, hooked on the network) catches at each forward pass."""
    was_training = network.training
    network.eval()
    logits, labels, caught = [], [], []
    try:
        for batch in loader:
            logits.append(network(batch[Keys.IMAGE].to(device)).float().cpu())
            labels.append(torch.as_tensor(batch[Keys.LABEL]).long().view(-1))
            if features is not None:
                caught.append(features.last)
    finally:
        network.train(was_training)
    return torch.cat(logits), torch.cat(labels), torch.cat(caught) if caught else None
