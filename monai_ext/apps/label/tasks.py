"""MONAI Label inference tasks for the two bundles, driven by each bundle's own ``inference.json``.

The segmentation bundle's output is already what MONAI Label's stock ``BundleInferTask`` saves: its
postprocessing restores the input's size (``Invertd``) and ends with a 2-D uint8 label image (0
background, 1 lung; :class:`~monai_ext.transforms.AsLabelImaged`), and its own mask writer is a
``SaveImaged`` the stock task drops. :class:`LungSegmentationInfer` adds only what the stock task does not:
the model folder checked when the app starts, the label value of the lung (1, where the stock task would
read 0 from the single output channel), and PNG answers for every input, DICOM included.

Classification is a ``BundleInferTask`` of type classification: the bundle's preprocessing (lung
mask predicted on the fly by the sibling segmentation bundle when ``input_mode`` needs it) and
postprocessing (temperature, softmax). The stock task answers with the class probabilities;
:class:`CovidClassificationInfer` adds the decision at the model's threshold, the input gate (which needs
the network's features) and, when asked, a Grad-CAM map.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.bundle import BundleInferTask
from monailabel.tasks.train.bundle import BundleTrainTask

from monai_ext.api import decision_fields
from monai_ext.apps.label.requests import check_task_request, check_train_request
from monai_ext.bundle import read_model_folder
from monai_ext.constants import CLS_BUNDLE, SEG_BUNDLE, Keys
from monai_ext.data import write_png
from monai_ext.gate import InputGate, PenultimateFeatures
from monai_ext.metrics.calibration import operating_threshold
from monai_ext.networks import feature_layer
from monai_ext.visualize import ClassSaliency

__all__ = ["CovidClassificationInfer", "LungSegmentationInfer", "LungSegmentationTrain", "model_files"]


def model_files(bundle_path: str) -> list[str]:
    """The weights files of a bundle a request may choose (``models/*.pt``)."""
    return sorted(p.name for p in Path(bundle_path, "models").glob("*.pt"))


class _CheckedInfer(BundleInferTask):
    """A bundle inference task that checks each request itself
    (:func:`~monai_ext.apps.label.requests.check_task_request`) before MONAI Label's task copies a field into
    the bundle's config: whichever app calls it, no value reaches the config as an expression, reference
    or macro, and ``device`` is ``cpu`` or ``cuda[:N]``."""

    def __call__(self, request, callbacks=None):
        return super().__call__(check_task_request(request, model_files(self.bundle_path)), callbacks)


class LungSegmentationInfer(_CheckedInfer):
    """Lung mask of a chest radiograph (PNG, JPEG or DICOM) at the input's size: 0 background, 1 lung."""

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        super().__init__(path, conf, type=InferType.SEGMENTATION, **kwargs)
        read_model_folder(os.path.join(path, "models"), SEG_BUNDLE)  # checked before any request
        self.labels = {"lung": 1}  # the bundle's single output channel is the lung
        # masks come back as PNG for every input, DICOM included (a request may still ask for another)
        self._config.update({"result_extension": ".png"})


class CovidClassificationInfer(_CheckedInfer):
    """Class probabilities of a chest radiograph; ``seg_bundle`` predicts the lung mask when needed.

    The JSON answer has each class's (temperature-scaled) probability, the predicted class, the
    ``decision`` (for a binary model with a saved operating threshold, ``models/calibration.json``, the
    class at it; ``abstain`` when the input gate does not answer: :mod:`monai_ext.gate`) and ``gate``:
    what the gate said (``answer``, ``abstain`` or ``off``), ``abstain_reason`` and its scores. A request
    with ``"gate": false`` turns the gate off for that request.
    A request with ``"saliency": true`` also gets a Grad-CAM map of the predicted class
    (:class:`~monai_ext.visualize.ClassSaliency`, on the bundle's ``model.pt`` network): its share inside
    the lungs in the JSON (``saliency``), and its overlay over the classifier's input as the answer's
    file (an RGB PNG)."""

    def __init__(self, path: str, conf: dict[str, str], seg_bundle: str | None = None, **kwargs: Any) -> None:
        super().__init__(path, conf, type=InferType.CLASSIFICATION, add_post_restore=False, **kwargs)
        if not self.valid:
            return
        if seg_bundle:
            self.bundle_config["seg_bundle_dir"] = seg_bundle
        model = read_model_folder(os.path.join(path, "models"), CLS_BUNDLE)  # checked before any request
        self.class_names = model.classes()
        self.threshold = operating_threshold(model.calibration["threshold"], self.class_names)
        self.gate = InputGate.from_model_folder(model)
        self.labels = {name: i for i, name in enumerate(self.class_names)}
        self._saliency: ClassSaliency | None = None  # of the cached network: its hooks go on once

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cuda") -> dict[str, Any]:
        network = self._get_network(device, data)  # the cached network super() runs: its features feed the gate
        with PenultimateFeatures(feature_layer(network)) as features:
            data = super().run_inferer(data, convert_to_batch, device)
        gate = self.gate if data.get("gate", True) else InputGate(enabled=False)
        data["gate_result"] = gate.decide_on(data, gate.ood_distances(features.last)[0])
        if data.get("saliency"):
            if self._saliency is None or self._saliency.network is not network:
                self._saliency = ClassSaliency(network)
            predicted = int(torch.as_tensor(data[Keys.PRED]).flatten().argmax())
            data["saliency"], data["saliency_overlay"] = self._saliency.explain(
                data[Keys.IMAGE], predicted, data.get(Keys.LUNG), self.class_names
            )
        return data

    def writer(self, data: dict[str, Any], extension=None, dtype=None) -> tuple[Any, dict[str, Any]]:
        """The answer's JSON (probabilities, predicted class, decision, saliency) and, when a map was
        asked for, its overlay PNG as the answer's file."""
        probs = np.asarray(data[Keys.PRED], dtype=np.float64).reshape(-1)
        answer = decision_fields(probs, self.class_names, self.threshold, data["gate_result"])
        answer["probabilities"] = {name: round(p, 6) for name, p in answer["probabilities"].items()}
        if "saliency_overlay" not in data:
            return None, answer
        answer["saliency"] = data["saliency"]
        with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as f:  # MONAI Label sends and removes it
            overlay = Path(f.name)
        write_png(data["saliency_overlay"], overlay)
        return str(overlay), answer


class LungSegmentationTrain(BundleTrainTask):
    """MONAI Label's bundle train task on the segmentation bundle, from the datastore's final labels, taking
    only checked requests (:func:`~monai_ext.apps.label.requests.check_train_request`): no value of a request
    reaches ``monai.bundle.run`` as a config expression, reference or macro."""

    def __call__(self, request, datastore):
        return super().__call__(
            check_train_request(request, self.bundle_path, model_files(self.bundle_path)), datastore
        )
