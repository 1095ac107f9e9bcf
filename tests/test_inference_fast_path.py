"""The segmentation bundle's inference fast path against the slow path it replaced, on fixed inputs.

Fast (the bundle's ``inference.json``): box-filter (``area``) downsampling, threshold, components and
holes at the network's resolution, one nearest-neighbour upsampling of the final mask, plain tensors
into the network. Slow (before issue 12): Gaussian anti-aliased downsampling, probabilities resized
back bilinearly, postprocessing at the radiograph's full size. The network is an oracle that returns
the true lung (area-resized to its input) as logits, so the comparison measures the paths alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.metrics import compute_dice
from monai.transforms import (
    Activationsd,
    AsDiscreted,
    Compose,
    DivisiblePadd,
    FillHolesd,
    Invertd,
    KeepLargestConnectedComponentd,
    Resized,
)
from torch import nn

from monai_ext.bundle import inference_parser
from monai_ext.bundle.lung_masks import mask_postprocessing
from monai_ext.constants import REPO_ROOT, SEG_BUNDLE, Keys
from monai_ext.networks import prepare_network
from monai_ext.tools.synthetic.phantom import make_phantom

#: least Dice between the fast and slow paths' masks: they differ only along the lung border
MIN_DICE_FAST_VS_SLOW = 0.98


class Oracle(nn.Module):
    """Logits of the true lung at the network's input size (+8 inside, -8 outside, soft at the border)."""

    def __init__(self, lung: np.ndarray) -> None:
        super().__init__()
        self.lung = torch.as_tensor(lung, dtype=torch.float32)[None]
        self.seen: list[type] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(type(x))
        size = x.shape[-2:]
        soft = nn.functional.interpolate(self.lung[None], size=tuple(size), mode="area")
        return (16 * (soft - 0.5)).expand(x.shape[0], 1, *size)


def _slow_path(image: torch.Tensor, net: nn.Module, image_size: int) -> torch.Tensor:
    pre = Compose(
        [
            Resized(Keys.IMAGE, (image_size, image_size), mode="bilinear", anti_aliasing=True),
            DivisiblePadd(Keys.IMAGE, k=32),
        ]
    )
    d = pre({Keys.IMAGE: MetaTensor(image.clone())})
    with torch.no_grad():
        d[Keys.PRED] = net(d[Keys.IMAGE][None])[0]
    post = Compose(
        [
            Activationsd(Keys.PRED, sigmoid=True),
            Invertd(Keys.PRED, transform=pre, orig_keys=Keys.IMAGE, nearest_interp=False),
            AsDiscreted(Keys.PRED, threshold=0.5),
            KeepLargestConnectedComponentd(Keys.PRED, applied_labels=[1], num_components=2),
            FillHolesd(Keys.PRED, applied_labels=[1]),
        ]
    )
    return post(d)[Keys.PRED]


@pytest.mark.parametrize(("seed", "crop"), [(0, 0), (1, 70)])
def test_fast_path_masks_match_the_slow_path(seed, crop):
    phantom = make_phantom(np.random.default_rng(seed), 700, "normal")
    image = torch.as_tensor(phantom.image[:, crop:])[None]  # 700 x 700 and 700 x 630 radiographs
    truth = phantom.lung[:, crop:]
    parser = inference_parser(REPO_ROOT / "bundles" / SEG_BUNDLE)
    pre = parser.get_parsed_content("preprocessing")
    post = mask_postprocessing(parser)
    oracle = Oracle(truth)
    net = prepare_network(oracle, "cpu", amp=False)
    d = pre({Keys.IMAGE: MetaTensor(image.clone())})
    with torch.no_grad():
        d[Keys.PRED] = net(d[Keys.IMAGE][None])[0]
    fast = post(d)[Keys.PRED]
    assert oracle.seen == [torch.Tensor]  # MetaTensor stripped before the network
    slow = _slow_path(image, oracle, parser.get_parsed_content("image_size"))
    assert fast.shape == slow.shape == (1, *truth.shape)
    assert set(torch.unique(fast).tolist()) == {0.0, 1.0}

    def dice(a, b):
        return float(compute_dice(torch.as_tensor(a)[None].float(), torch.as_tensor(b)[None].float()))

    assert dice(fast, slow) >= MIN_DICE_FAST_VS_SLOW
    assert dice(fast, torch.as_tensor(truth)[None]) >= MIN_DICE_FAST_VS_SLOW
