"""Predicting lung masks on the fly with the segmentation bundle, for classification inputs without masks: a
transform pair (array and dictionary) that runs a bundle, so it lives beside the bundle helpers."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Compose, MapTransform

from monai_ext.bundle.parsing import inference_parser
from monai_ext.constants import MODEL_FILE, Keys
from monai_ext.networks import prepare_network
from monai_ext.transforms.mask.dictionary import AsLabelImaged, SaveLungMaskd
from monai_ext.transforms.mask.quality import LungMaskQualityd

__all__ = ["LungMaskPredictor", "PredictLungMaskD", "PredictLungMaskDict", "PredictLungMaskd", "mask_postprocessing"]

#: postprocessing steps of the segmentation bundle that report, write files or shape the output for other tools'
#: writers: the classifier takes the mask in (1, rows, columns) and checks it itself
_NOT_FOR_PREDICTION = (LungMaskQualityd, SaveLungMaskd, AsLabelImaged)


def mask_postprocessing(parser) -> Compose:
    """The segmentation bundle's own ``postprocessing`` from its parsed ``inference.json`` (activation, lung
    postprocessing at the network's resolution, ``Invertd`` back to the image's size) without the steps
    that log plausibility or write files: the binary mask a caller keeps in memory."""
    return Compose(
        [t for t in parser.get_parsed_content("postprocessing").transforms if not isinstance(t, _NOT_FOR_PREDICTION)]
    )


class LungMaskPredictor:
    """Predict a binary lung mask ``(1, rows, columns)`` for a loaded radiograph, with the segmentation
    bundle's own network, weights (``models/model.pt``), preprocessing and lung postprocessing, read
    from its ``configs/inference.json``. The bundle is loaded on first use.

    Args:
        bundle_dir: the segmentation bundle folder.
        device: where the network runs.
        amp: run it in the device's fast precision (see :func:`~monai_ext.networks.prepare_network`).
    """

    def __init__(self, bundle_dir: str | os.PathLike, device: str | torch.device = "cpu", amp: bool = False) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.device = torch.device(device)
        self.amp = amp
        self._net = None

    def _load(self) -> None:
        weights = self.bundle_dir / "models" / MODEL_FILE
        if not weights.is_file():
            raise FileNotFoundError(
                f"no lung segmentation model at {weights}: train the segmentation bundle, or give lung masks (mask_dir)"
            )
        parser = inference_parser(self.bundle_dir)
        net = parser.get_parsed_content("network_def")
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self._net = prepare_network(net, self.device, self.amp).eval()
        self._pre = parser.get_parsed_content("preprocessing")  # LoadCXRd passes the already-loaded image through
        self._inferer = parser.get_parsed_content("inferer")  # the bundle's test-time augmentation too
        self._post = mask_postprocessing(parser)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The binary mask ``(1, rows, columns)`` of ``image`` and how much the segmenter's test-time passes
        disagreed on it (``tta_disagreement``, NaN without test-time augmentation)."""
        if self._net is None:
            self._load()
        d = self._pre({Keys.IMAGE: MetaTensor(torch.as_tensor(image).clone())})
        with torch.no_grad():
            d[Keys.PRED] = self._inferer(d[Keys.IMAGE][None].to(self.device), self._net)[0].cpu()
        d = self._post(d)
        return d[Keys.PRED], d.get(Keys.TTA_DISAGREEMENT, float("nan"))


class PredictLungMaskd(MapTransform):
    """Put a predicted lung mask under ``mask_key`` for each item that has no loaded mask there, and how much
    the segmenter's test-time passes disagreed on it under ``tta_disagreement``.

    Items whose mask was given (a loaded tensor under ``mask_key``), and items an input scan marked
    ``mask_source`` other than ``predicted``, are left alone; set ``enabled=False`` to never load the
    segmentation model.

    Args:
        keys: the loaded radiograph (one key).
        bundle_dir: the segmentation bundle folder (see :class:`LungMaskPredictor`).
        mask_key: where the mask goes, and where a given mask is looked for.
        device: where the segmentation network runs.
        amp: run it in the device's fast precision.
        enabled: False never predicts (and never loads the model).
        allow_missing_keys: don't raise when a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        bundle_dir: str | os.PathLike,
        mask_key: str = Keys.LUNG,
        device: str | torch.device = "cpu",
        amp: bool = False,
        enabled: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.predictor = LungMaskPredictor(bundle_dir, device, amp)
        self.mask_key = mask_key
        self.enabled = enabled

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        if not self.enabled or isinstance(d.get(self.mask_key), torch.Tensor):
            return d
        if d.get(Keys.MASK_SOURCE, "predicted") != "predicted":  # an input scan found none to be had
            return d
        for key in self.key_iterator(d):
            d[self.mask_key], d[Keys.TTA_DISAGREEMENT] = self.predictor(d[key])
        return d


PredictLungMaskD = PredictLungMaskDict = PredictLungMaskd
