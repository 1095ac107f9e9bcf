"""How far an input's classifier features lie from the training set's: a Mahalanobis distance (Lee et al.
2018) to the nearest class mean of the penultimate features, under one covariance shared by the classes.

Penultimate features have thousands of dimensions and a training set may have only hundreds of images, so
the features are first projected on their ``n_components`` principal components (fitted on the training
features), and the shared covariance is shrunk towards a scaled identity by Ledoit and Wolf's (2004)
closed form, which keeps it invertible and well conditioned whatever the sample size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OOD_MARGIN", "FeatureDensity", "PenultimateFeatures", "ledoit_wolf", "ood_threshold"]

#: the out-of-distribution threshold: this much above the 99th percentile of the validation images' distances
OOD_MARGIN = 1.25


def ood_threshold(distances: np.ndarray) -> float:
    """The out-of-distribution threshold of validation ``distances``: :data:`OOD_MARGIN` times their 99th
    percentile (above zero even when a network's features never vary and every distance is 0)."""
    return max(float(OOD_MARGIN * np.quantile(distances, 0.99)), 1e-6)


def ledoit_wolf(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Ledoit and Wolf's shrunk covariance of centred samples ``x`` ``(n, d)``: ``(1 - s) S + s mu I`` with
    ``S`` the sample covariance (divided by n), ``mu`` its mean eigenvalue and the shrinkage ``s`` in [0, 1]
    that minimises the expected squared error; returns the covariance and ``s``."""
    x = x.double()
    n, d = x.shape
    sample = x.T @ x / n
    mu = torch.trace(sample) / d
    delta = ((sample - mu * torch.eye(d, dtype=x.dtype)) ** 2).sum() / d
    beta = sum(((xi[:, None] * xi[None, :] - sample) ** 2).sum() for xi in x) / (n * n * d)
    shrinkage = float(torch.clamp(beta / delta, 0.0, 1.0)) if delta > 0 else 1.0
    return (1.0 - shrinkage) * sample + shrinkage * mu * torch.eye(d, dtype=x.dtype), shrinkage


class FeatureDensity:
    """Class means and a shared shrunk covariance of penultimate features, in a principal subspace.

    Args:
        state: the fitted tensors (:meth:`fit`, or a saved ``state_dict``): ``mean`` ``(d,)``,
            ``components`` ``(d, k)``, ``class_means`` ``(c, k)``, ``precision`` ``(k, k)``.
    """

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = {k: v.double() for k, v in state.items()}

    @classmethod
    def fit(cls, features: torch.Tensor, labels: torch.Tensor, n_components: int = 64) -> FeatureDensity:
        """Fit on training ``features`` ``(n, d)`` with class ``labels`` ``(n,)``."""
        features, labels = features.double(), torch.as_tensor(labels).long()
        if len(features) < 3 or len(features) != len(labels):
            raise ValueError(f"at least 3 features with one label each are needed, got {tuple(features.shape)}")
        mean = features.mean(dim=0)
        k = max(1, min(n_components, len(features) - 1, features.shape[1]))
        _, _, v = torch.linalg.svd(features - mean, full_matrices=False)
        components = v[:k].T
        projected = (features - mean) @ components
        classes = sorted(labels.unique().tolist())
        class_means = torch.stack([projected[labels == c].mean(dim=0) for c in classes])
        centred = projected - class_means[torch.searchsorted(torch.tensor(classes), labels)]
        covariance, _ = ledoit_wolf(centred)
        return cls(
            {
                "mean": mean,
                "components": components,
                "class_means": class_means,
                # the pseudo-inverse: features that never vary (an untrained network's) leave the covariance
                # singular, and then add nothing to a distance
                "precision": torch.linalg.pinv(covariance, hermitian=True),
            }
        )

    def distance(self, features: torch.Tensor) -> torch.Tensor:
        """The Mahalanobis distance ``(n,)`` of each row of ``features`` ``(n, d)`` to the nearest class mean."""
        s = self.state
        projected = (features.double() - s["mean"]) @ s["components"]
        diff = projected[:, None, :] - s["class_means"][None]  # (n, c, k)
        squared = torch.einsum("nck,kl,ncl->nc", diff, s["precision"], diff)
        return squared.clamp_min(0).min(dim=1).values.sqrt().float()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.state.items()}


class PenultimateFeatures:
    """The input of a network's last linear layer at each forward pass (a forward pre-hook), for
    :class:`FeatureDensity`: ``with PenultimateFeatures(layer) as f: net(x); f.last`` ``(B, d)``.

    Args:
        layer: the last linear layer (:func:`~monai_ext.networks.feature_layer`).
    """

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer
        self.last: torch.Tensor | None = None
        self._handle = None

    def _keep(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.last = torch.as_tensor(args[0]).detach().float().flatten(1).cpu()

    def __enter__(self) -> PenultimateFeatures:  # noqa: PYI034 - Python 3.10 has no typing.Self
        self._handle = self.layer.register_forward_pre_hook(self._keep)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def collect(self, network: nn.Module, batches: Iterable[torch.Tensor], device: str | torch.device) -> torch.Tensor:
        """The features ``(n, d)`` of every batch, in evaluation mode and without gradients."""
        out = []
        with self, torch.no_grad():
            for batch in batches:
                network(batch.to(device))
                out.append(self.last)
        return torch.cat(out)
