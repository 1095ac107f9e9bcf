"""One line to load a bundle, one call per radiograph: for scripts and notebooks.

    from monai_ext import CovidClassifier, LungSegmenter

    seg = LungSegmenter("bundles/cxr_lung_segmentation")
    mask = seg("x.dcm")  # (rows, columns) uint8, 1 = lung
    clf = CovidClassifier("bundles/cxr_covid_classification", segmenter=seg)
    clf("x.dcm")  # {"probabilities": {...}, "decision": ..., "gate": ..., ...}

Each is a thin wrapper over its bundle's own ``configs/inference.json``: the same model-folder checks,
preprocessing, network, weights (``models/model.pt``), test-time passes, calibration, input gate and
decision rule as ``python -m monai.bundle run --config_file .../inference.json``; only the files and the
batch job around them are left out. Inputs are a path (PNG, JPEG, DICOM), a loaded 2-D array or
``(1, rows, columns)`` array in [0, 1], or a list of either (a list gives a list).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_ext.bundle import LungMaskPredictor, inference_parser
from monai_ext.constants import MODEL_FILE, Keys
from monai_ext.errors import project_error
from monai_ext.gate import ABSTAIN, GateResult, PenultimateFeatures
from monai_ext.metrics.calibration import decision, operating_threshold
from monai_ext.networks import engine_amp, feature_layer
from monai_ext.transforms import LoadCXRd
from monai_ext.visualize import ClassSaliency

__all__ = ["CovidClassifier", "LungSegmenter", "decision_fields"]

Image = str | os.PathLike | np.ndarray | torch.Tensor


def _content(parser, key: str) -> Any:
    """``parser.get_parsed_content(key)``, raising the project's own error (a model-folder file's problem,
    a bad setting) rather than the config parser's wrapper around it."""
    try:
        return parser.get_parsed_content(key)
    except Exception as e:
        error = project_error(e)
        if error is None:
            raise
        raise error from e


def _default_device(device: str | torch.device | None) -> torch.device:
    return torch.device(device if device is not None else ("cuda:0" if torch.cuda.is_available() else "cpu"))


_LOADER = LoadCXRd(keys=Keys.IMAGE)


def _load(image: Image) -> MetaTensor:
    """The radiograph as the bundles' ``LoadCXRd`` gives it: ``(1, rows, columns)`` in [0, 1], its header
    in the metadata when it is a file."""
    return _LOADER({Keys.IMAGE: str(image) if isinstance(image, os.PathLike) else image})[Keys.IMAGE]


def decision_fields(
    probs: np.ndarray, class_names: Sequence[str], threshold: float | None, gate: GateResult
) -> dict[str, Any]:
    """What a classification answer says of one radiograph, the same in the Python API, MONAI Label and
    Deploy: ``prediction`` (the argmax), ``probabilities``, ``decision`` (the class at a binary model's
    ``threshold``, the argmax without one, ``abstain`` when the gate does not answer), ``threshold`` when
    there is one, and the gate's fields."""
    predicted = class_names[int(np.argmax(probs))]
    chosen = decision(probs, class_names, threshold) or predicted
    out: dict[str, Any] = {
        "prediction": predicted,
        "probabilities": {n: float(p) for n, p in zip(class_names, probs)},
        "decision": ABSTAIN if gate.abstains else chosen,
    }
    if threshold is not None:
        out["threshold"] = threshold
    return {**out, **gate.fields()}


class LungSegmenter:
    """The segmentation bundle as a function: radiograph in, lung mask out.

    Args:
        bundle_dir: the segmentation bundle (its ``models/model.pt`` and ``configs/inference.json``).
        device: where the network runs (default: the first GPU when there is one, else the CPU).
        amp: the device's fast precision (default: on CUDA only, as the bundle's ``amp``).

    Calling it on a radiograph gives its mask, ``(rows, columns)`` uint8 at the input's size, 1 = lung,
    equal to the PNG the bundle's inference writes (0/255 there); :meth:`predict` also gives how much the
    test-time passes disagreed.
    """

    def __init__(
        self, bundle_dir: str | os.PathLike, device: str | torch.device | None = None, amp: bool | None = None
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.device = _default_device(device)
        self.amp = self.device.type == "cuda" if amp is None else amp
        _content(inference_parser(self.bundle_dir), "model_folder")  # checked now, before any image
        self.predictor = LungMaskPredictor(self.bundle_dir, self.device, self.amp)

    def predict(self, image: Image) -> tuple[np.ndarray, float]:
        """The mask of one radiograph and the test-time passes' disagreement on it."""
        mask, disagreement = self.predictor(_load(image))
        return np.asarray(mask[0].cpu().numpy() > 0.5, dtype=np.uint8), float(disagreement)

    def __call__(self, image: Image | Sequence[Image]) -> np.ndarray | list[np.ndarray]:
        if isinstance(image, (list, tuple)):
            return [self(x) for x in image]
        return self.predict(image)[0]


class CovidClassifier:
    """The classification bundle as a function: radiograph in, what the bundle's inference says out.

    Args:
        bundle_dir: the classification bundle (its ``models/`` folder and ``configs/inference.json``).
        segmenter: the lung segmenter for the models that need a mask (``input_mode`` lung or no_lung, lung
            crops) and for the input gate's mask checks; default: the segmentation bundle beside
            ``bundle_dir``, as the bundle's own ``seg_bundle_dir``.
        device: where the network runs (default: the first GPU when there is one, else the CPU).
        gate: the input gate (:mod:`monai_ext.gate`); False answers every input.
        saliency: add a Grad-CAM map of the predicted class (its share inside the lungs under ``saliency``,
            the RGB overlay under ``saliency_overlay``).
        weights: the weights file, default the bundle's ``models/model.pt``; a TorchScript file (``.ts``,
            as MONAI Deploy packages it) gives its weights to the bundle's own network, which takes the
            hooks the gate's features and Grad-CAM need.

    The default segmenter is loaded on the first radiograph that needs it and is given no mask.

    Calling it on a radiograph gives a dict: ``probabilities`` (class name to calibrated probability),
    ``prediction`` (the argmax), ``decision`` (the class at the model's operating threshold, ``abstain``
    when the gate does not answer), ``threshold`` where the model has one, ``input_mode``, and the gate's
    fields: ``gate``, ``abstain_reason``, its scores and ``not_assessed`` (the checks that failed).
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike,
        segmenter: LungSegmenter | None = None,
        device: str | torch.device | None = None,
        gate: bool = True,
        saliency: bool = False,
        weights: str | os.PathLike | None = None,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.device = _default_device(device)
        parser = inference_parser(self.bundle_dir, device=str(self.device))
        parser["gate"], parser["saliency"] = gate, saliency
        if segmenter is not None:
            parser["seg_bundle_dir"] = str(segmenter.bundle_dir)
        self.class_names = list(_content(parser, "class_names"))  # the model folder, checked
        self.input_mode = _content(parser, "input_mode")
        self.threshold = operating_threshold(_content(parser, "calibration")["threshold"], self.class_names)
        self.gate = _content(parser, "input_gate")
        self.wants_mask = bool(_content(parser, "wants_mask"))
        self.amp = engine_amp(bool(_content(parser, "amp")), self.device)
        self.segmenter = segmenter
        self.seg_bundle_dir = Path(_content(parser, "seg_bundle_dir"))
        self.preprocessing = _content(parser, "preprocessing")
        self.postprocessing = _content(parser, "postprocessing")
        weights = Path(weights) if weights is not None else Path(_content(parser, "ckpt_dir")) / MODEL_FILE
        if weights.suffix == ".ts":
            state = torch.jit.load(str(weights), map_location="cpu").state_dict()
            self.network = _content(parser, "network_def").to(self.device)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            self.network = _content(parser, "network")
        self.network.load_state_dict(state)
        self.network.eval()
        self.features = PenultimateFeatures(feature_layer(self.network))
        self.saliency = ClassSaliency(self.network) if saliency else None

    def classify(
        self, image: Image, lung: np.ndarray | torch.Tensor | None = None, tta_disagreement: float | None = None
    ) -> dict[str, Any]:
        """What the bundle says of one radiograph; ``lung``, a ``(rows, columns)`` mask at its size, is used
        in place of the segmenter's, with ``tta_disagreement``, its segmenter's test-time passes'
        disagreement, when it has one (else the gate does not hold that check against it)."""
        data: dict[str, Any] = {Keys.IMAGE: _load(image)}
        if lung is not None:
            data[Keys.LUNG] = torch.as_tensor(np.asarray(lung, dtype=np.float32)).reshape(
                1, *data[Keys.IMAGE].shape[1:]
            )
            if tta_disagreement is not None:
                data[Keys.TTA_DISAGREEMENT] = float(tta_disagreement)
        elif self.wants_mask:
            if self.segmenter is None:
                self.segmenter = LungSegmenter(self.seg_bundle_dir, self.device)
            mask, data[Keys.TTA_DISAGREEMENT] = self.segmenter.predictor(data[Keys.IMAGE])
            data[Keys.LUNG] = mask
        data = self.preprocessing(data)
        with self.features, torch.no_grad(), torch.autocast("cuda", enabled=self.amp):
            data[Keys.PRED] = self.network(data[Keys.IMAGE][None].to(self.device))[0].float()
        probs = self.postprocessing(data)[Keys.PRED].detach().cpu().numpy().astype(np.float64)
        predicted = int(probs.argmax())
        gate = self.gate.decide_on(data, self.gate.ood_distances(self.features.last)[0])
        result: dict[str, Any] = {
            "input_mode": self.input_mode,
            **decision_fields(probs, self.class_names, self.threshold, gate),
            "not_assessed": [check for check, _ in gate.failed],
        }
        if self.saliency is not None:
            result["saliency"], result["saliency_overlay"] = self.saliency.explain(
                data[Keys.IMAGE], predicted, data.get(Keys.LUNG), self.class_names
            )
        return result

    def __call__(self, image: Image | Sequence[Image]) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(image, (list, tuple)):
            return [self(x) for x in image]
        return self.classify(image)
