"""Where a classifier looks: Grad-CAM maps (MONAI's :class:`monai.visualize.GradCAM`) of a chosen class
per image, and their picture over the input with the lungs outlined."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.visualize import GradCAM
from torch import nn

from monai_ext.metrics.saliency import in_mask_fraction
from monai_ext.networks.classifier import saliency_layer

__all__ = ["ClassSaliency", "lung_shares", "saliency_overlay", "saliency_summary"]


def lung_shares(saliency: torch.Tensor, mask: torch.Tensor | None) -> dict[str, float]:
    """``in_lung`` (the map's share inside the binary lung mask on its grid) and ``lung_area`` (the
    lungs' share of the image, what an evenly spread map would score); both NaN without a mask."""
    if mask is None:
        return {"in_lung": math.nan, "lung_area": math.nan}
    mask = torch.as_tensor(mask).as_subclass(torch.Tensor).float()
    return {"in_lung": in_mask_fraction(saliency, mask), "lung_area": float((mask > 0.5).float().mean())}


def saliency_summary(saliency: torch.Tensor, mask: torch.Tensor | None, explained: str) -> dict[str, object]:
    """What a single-image answer (MONAI Label, MONAI Deploy) reports of a map, as JSON: the method, the
    class explained and :func:`lung_shares` rounded to 4 places (null without a mask)."""
    shares = {k: None if math.isnan(v) else round(v, 4) for k, v in lung_shares(saliency, mask).items()}
    return {"method": "Grad-CAM", "explained": explained, **shares}


class ClassSaliency:
    """Grad-CAM maps of ``network`` at the input's size, each of the class asked for its image, with the
    ReLU'd map kept as it is (not rescaled per image, so that shares of it can be measured).

    Hooks go on the network at the first call. The network's weights are not changed and keep no
    gradients; the input is made to require gradients, so that a network with frozen weights works too.

    Args:
        network: a :class:`~monai_ext.networks.TorchVisionClassifier` (wrapped in DataParallel or
            DistributedDataParallel or not), or any module when ``target_layer`` is given.
        target_layer: the layer Grad-CAM weighs; default: the backbone's in
            :data:`~monai_ext.networks.BACKBONES`.
    """

    def __init__(self, network: nn.Module, target_layer: str | None = None) -> None:
        self.network = network
        self.target_layer = target_layer or saliency_layer(network)
        self._cam: GradCAM | None = None
        self.grid: tuple[int, ...] = ()  # the target layer's map size at the last call: how coarse the maps are

    def __call__(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Maps ``(B, 1, rows, columns)`` of ``images`` ``(B, C, rows, columns)``, each of its class in ``classes`` ``(B,)``."""
        if self._cam is None:
            self._cam = GradCAM(nn_module=self.network, target_layers=self.target_layer, postprocessing=lambda x: x)
        device = next(self.network.parameters()).device
        images = images.float().to(device).requires_grad_(True)
        classes = torch.as_tensor(classes).flatten().to(device)
        out = torch.zeros((images.shape[0], 1, *images.shape[2:]), device=device)
        with torch.enable_grad():
            for c in classes.unique().tolist():  # one backward per class: MONAI's class_score takes one index
                pick = classes == c
                out[pick] = self._cam(images[pick], class_idx=int(c)).detach().float()
        self.grid = tuple(self._cam.nn_module.activations[self.target_layer].shape[2:])
        self.network.zero_grad(set_to_none=True)
        return out.cpu()

    def explain(
        self, image: torch.Tensor, class_idx: int, lung: torch.Tensor | None, class_names: Sequence[str]
    ) -> tuple[dict[str, object], np.ndarray]:
        """One network input ``image`` ``(C, rows, columns)``: the :func:`saliency_summary` of its map of
        ``class_idx`` against ``lung`` (on the same grid, or None) and the :func:`saliency_overlay` picture."""
        image = torch.as_tensor(image)
        saliency = self(image[None], torch.tensor([class_idx]))[0]
        return saliency_summary(saliency, lung, class_names[class_idx]), saliency_overlay(image, saliency, lung)


def saliency_overlay(image: torch.Tensor, saliency: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """An RGB uint8 picture ``(rows, columns, 3)`` of the network input ``image`` (its first channel,
    stretched to its range) under the saliency map in a "jet" colour scale (scaled to its maximum, more
    opaque where it is higher), with the lung mask's outline in yellow when given."""
    from matplotlib import colormaps

    grey = image[0].detach().float().cpu()
    grey = ((grey - grey.min()) / (grey.max() - grey.min()).clamp_min(1e-8)).numpy()
    heat = saliency[0].detach().float().cpu()
    heat = (heat / heat.max().clamp_min(1e-12)).numpy()
    alpha = 0.6 * heat[..., None]
    rgb = (1 - alpha) * grey[..., None] + alpha * colormaps["jet"](heat)[..., :3]
    if mask is not None:
        inside = (mask[0].detach().float().cpu() > 0.5).float()[None, None]
        eroded = -F.max_pool2d(-inside, 3, stride=1, padding=1)
        outline = (inside - eroded)[0, 0].bool().numpy()
        rgb[outline] = (1.0, 1.0, 0.0)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
