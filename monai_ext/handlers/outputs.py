"""Output transforms that turn a decollated engine output into what metric handlers take."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["probs_and_labels", "probs_and_onehot"]


def probs_and_labels(output: Sequence[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(probabilities (B, C), label indices (B,))`` for ignite's ``Accuracy`` on a multi-class output."""
    probs = torch.stack([torch.as_tensor(o["pred"]).float().flatten() for o in output])
    labels = torch.stack([torch.as_tensor(o["label"]).long().flatten()[0] for o in output])
    return probs, labels


def probs_and_onehot(output: Sequence[dict]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``([probabilities (C,)], [one-hot labels (C,)])`` for MONAI's ``ROCAUC`` handler."""
    probs, labels = probs_and_labels(output)
    onehot = torch.nn.functional.one_hot(labels, probs.shape[1]).float()
    return list(probs), list(onehot)
