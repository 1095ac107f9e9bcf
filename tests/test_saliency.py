"""Grad-CAM saliency: the in-lung share against hand-computed values, a network whose evidence is known,
the overlay picture, and the layer chosen per backbone."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from monai_ext.handlers import SaliencyWriter
from monai_ext.metrics import in_mask_fraction
from monai_ext.networks import BACKBONES, TorchVisionClassifier, saliency_layer
from monai_ext.visualize import saliency_overlay


def test_in_mask_fraction_by_hand():
    saliency = torch.tensor([[1.0, 3.0], [0.0, 4.0]])
    mask = torch.tensor([[1, 0], [1, 1]])
    assert in_mask_fraction(saliency, mask) == pytest.approx(5 / 8)
    assert in_mask_fraction(np.ones((4, 4)), np.ones((4, 4))) == 1.0
    even = np.ones((4, 5))  # an evenly spread map scores the mask's area share
    area = np.zeros((4, 5))
    area[1:3, :2] = 1
    assert in_mask_fraction(even, area) == pytest.approx(area.mean())
    assert math.isnan(in_mask_fraction(np.zeros((2, 2)), np.ones((2, 2))))
    with pytest.raises(ValueError, match="differ in shape"):
        in_mask_fraction(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="negative"):
        in_mask_fraction(-np.ones((2, 2)), np.ones((2, 2)))


class _Halves(nn.Module):
    """Two feature channels: the image's left half and its right half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = torch.zeros_like(x[:, :1])
        left[..., : x.shape[-1] // 2] = 1
        return torch.cat([x[:, :1] * left, x[:, :1] * (1 - left)], 1)


class _LeftIsPositive(nn.Module):
    """Logits (right-half mean, 2 x left-half mean): class 1's evidence is the left half only, class 0's the right."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _Halves()
        self.gain = nn.Parameter(torch.tensor([1.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).mean((2, 3))
        return torch.stack([f[:, 1], f[:, 0]], 1) * self.gain


def _item(image: torch.Tensor, mask: torch.Tensor | None, name: str, label: int) -> dict:
    item = {"image": image, "name": name, "label": label}
    if mask is not None:
        item["lung"] = mask
    return item


def test_saliency_writer_finds_the_evidence_and_measures_it_against_the_lungs(tmp_path):
    net = _LeftIsPositive()
    left = torch.zeros(1, 8, 8)
    left[..., :4] = 1
    bright_left = torch.ones(3, 8, 8)  # left evidence 2 x 1 > right 1: class 1 is predicted
    bright_right = torch.ones(3, 8, 8)
    bright_right[..., :4] = 0.2  # left 0.4 < right 1: class 0 is predicted
    batch = [
        _item(bright_left, left, "test/a.dcm", 1),
        _item(bright_right, left, "test/b.png", 0),
        _item(bright_left, None, "c.png", 1),  # no mask: a map, no fraction
    ]
    with torch.no_grad():
        probs = net(torch.stack([b["image"] for b in batch])).softmax(1)
    writer = SaliencyWriter(
        net, tmp_path, target_layer="features", class_names=["negative", "positive"], n_bootstrap=50
    )
    engine = SimpleNamespace(state=SimpleNamespace(batch=batch, output=[{"pred": p} for p in probs]))
    writer.collect(engine)
    writer.write()
    rows = list(csv.DictReader((tmp_path / "saliency.csv").open()))
    assert [r["explained"] for r in rows] == ["positive", "negative", "positive"]
    assert [r["in_lung"] for r in rows] == ["1.0000", "0.0000", ""]  # class 1 looks left (the "lung"), class 0 right
    assert [r["lung_area"] for r in rows] == ["0.5000", "0.5000", ""]
    assert [r["map"] for r in rows] == ["saliency/test/a.png", "saliency/test/b.png", "saliency/c.png"]
    overlay = np.asarray(Image.open(tmp_path / "saliency" / "test" / "a.png"))
    assert overlay.shape == (8, 8, 3) and overlay.dtype == np.uint8
    summary = json.loads((tmp_path / "saliency.json").read_text())
    assert summary["overall"]["in_lung"]["value"] == pytest.approx(0.5)
    assert summary["overall"]["n"] == 3 and summary["overall"]["n_measured"] == 2 and summary["grid"] == [8, 8]
    assert summary["per_class"]["positive"]["in_lung"]["value"] == 1.0
    assert summary["per_class"]["negative"]["in_lung"]["value"] == 0.0
    assert all(p.grad is None for p in net.parameters())  # no gradients left behind on the model


def test_overlay_outlines_the_lungs_in_yellow():
    image = torch.linspace(0, 1, 100).reshape(1, 10, 10)
    saliency = torch.zeros(1, 10, 10)
    mask = torch.zeros(1, 10, 10)
    mask[:, 2:8, 2:8] = 1
    rgb = saliency_overlay(image, saliency, mask)
    assert tuple(rgb[2, 5]) == (255, 255, 0) and tuple(rgb[5, 2]) == (255, 255, 0)  # on the border
    assert rgb[5, 5, 0] == rgb[5, 5, 1] == rgb[5, 5, 2]  # inside, no map: the grey image


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_each_backbone_names_a_convolutional_stage(backbone):
    net = TorchVisionClassifier(backbone, 2)
    assert saliency_layer(net) == BACKBONES[backbone].saliency_layer
    assert saliency_layer(nn.DataParallel(net)) == "module." + BACKBONES[backbone].saliency_layer
    layer = net.get_submodule(BACKBONES[backbone].saliency_layer)
    seen = {}
    layer.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))  # returns None: output kept
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, 64, 64))
    assert len(seen["shape"]) == 4 and seen["shape"][-1] > 1  # a spatial map, before pooling
    with pytest.raises(TypeError, match="TorchScript"):
        saliency_layer(nn.Linear(2, 2))
