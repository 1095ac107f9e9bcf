"""Operators of the MONAI Deploy application, one radiograph per message.

- :class:`CXRLoaderOperator` finds the chest radiographs (``finder.py``) in a folder of DICOM files (CR or DX,
  one frame, body part chest or unstated) and loads each with the project's reader (Modality LUT,
  VOI window, MONOCHROME1 inverted): a 2-D CR has no volume geometry, so the SDK's
  ``DICOMSeriesToVolumeOperator`` does not fit it.
- :class:`LungSegmentationOperator` is the SDK's ``MonaiBundleInferenceOperator`` on the segmentation
  bundle's exported TorchScript (its configs travel inside the file); it emits the mask as a 2-D image.
- :class:`CovidClassifierOperator` runs the classification bundle's preprocessing (lung mask from the
  segmentation operator), its network with the exported TorchScript's weights and the input gate, and
  emits class probabilities and the decision (a class, or ``abstain``).
- :class:`CXRResultWriterOperator` writes, per radiograph, the mask (PNG, 0/255, at the radiograph's
  size, and a DICOM SEG referencing the radiograph), the class probabilities and the decision at the
  model's threshold (``result.json`` and a DICOM SR measurement report, TID 1500; ``dicom_outputs.py``),
  the Grad-CAM overlay when asked (``saliency.png``); and ``results.json`` for the whole folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import torch
from monai.data import MetaTensor
from monai.deploy.core import Fragment, Image, Operator, OperatorSpec
from monai.deploy.operators.monai_bundle_inference_operator import MonaiBundleInferenceOperator, filter_compose

from monai_ext.bundle import inference_parser
from monai_ext.constants import Keys
from monai_ext.data import read_cxr, write_png
from monai_ext.deploy.dicom_outputs import write_classification_sr, write_lung_seg
from monai_ext.errors import CXRReadError
from monai_ext.gate import ABSTAIN, PenultimateFeatures
from monai_ext.metrics.calibration import decision, operating_threshold
from monai_ext.networks import feature_layer
from monai_ext.utils import write_json
from monai_ext.visualize import ClassSaliency

__all__ = ["CXRLoaderOperator", "CXRResultWriterOperator", "CovidClassifierOperator", "LungSegmentationOperator"]

logger = logging.getLogger(__name__)


class CXRLoaderOperator(Operator):
    """Emit one chest radiograph per call as an SDK ``Image``: float ``(1, rows, columns)`` in [0, 1],
    air dark, with the reader's metadata plus ``SOPInstanceUID``. Run it with ``CountCondition(len(files))``."""

    def __init__(self, fragment: Fragment, *args, files: list[Path], **kwargs) -> None:
        self.files = list(files)
        self.index = 0
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output(Keys.IMAGE)

    def compute(self, op_input, op_output, context) -> None:
        path = self.files[self.index]
        self.index += 1
        try:
            array, meta = read_cxr(path)
        except CXRReadError as e:  # still emit, so the other operators stay in step; the writer reports it
            logger.error("%s", e)
            array, meta = np.zeros((8, 8), np.float32), {"filename_or_obj": str(path), "error": str(e)}
        meta["SOPInstanceUID"] = str(pydicom.dcmread(path, stop_before_pixels=True).get("SOPInstanceUID", path.stem))
        meta["spatial_shape"] = np.asarray(array.shape)
        op_output.emit(Image(array[None].astype(np.float32), metadata=meta), Keys.IMAGE)


class LungSegmentationOperator(MonaiBundleInferenceOperator):
    """The SDK's bundle operator on the segmentation bundle's TorchScript, for one 2-D radiograph: the
    bundle's postprocessing (``Invertd`` back to the radiograph's size, threshold, two largest
    components, holes filled) without its PNG writer and the last step that shapes the mask for other tools'
    writers; the mask leaves as a 2-D uint8 ``Image`` (0/1) of (rows, columns)."""

    def _init_config(self, config_names) -> None:
        super()._init_config(config_names)
        self._postproc = filter_compose(self._postproc, ["SaveLungMask", "AsLabelImage"])

    def _send_output(self, value: Any, name: str, metadata: dict, op_output, context) -> None:
        mask = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        op_output.emit(Image((mask.reshape(mask.shape[-2:]) > 0).astype(np.uint8), metadata=dict(metadata)), name)


class CovidClassifierOperator(Operator):
    """Class probabilities of one radiograph with the classification bundle: its ``inference.json``
    preprocessing (whole image, lungs, or image without lungs, as its ``input_mode`` says; the lung
    mask comes from :class:`LungSegmentationOperator`; the input gate's checks of the header, colour and
    mask), the network with the weights of its exported TorchScript, the temperature and softmax of its
    postprocessing, the input gate's decision (:mod:`monai_ext.gate`: the checks and the distance of the
    classifier's features to the training images'), and the ``decision``: the class at the model's
    operating threshold (``models/calibration.json``), the argmax without one, ``abstain`` when the gate
    does not answer.

    The network is the bundle's own (``network_def``) with the TorchScript's weights: a TorchScript module
    takes no hooks, and the gate's features and the Grad-CAM map need them. With ``saliency``, a Grad-CAM
    map of the predicted class too (:class:`~monai_ext.visualize.ClassSaliency`): its share inside the lungs
    and an overlay picture (``saliency_overlay``, RGB) go with the probabilities."""

    def __init__(
        self,
        fragment: Fragment,
        *args,
        bundle_dir: Path,
        model_file: Path,
        device: str = "cpu",
        saliency: bool = False,
        gate: bool = True,
        **kwargs,
    ) -> None:
        parser = inference_parser(bundle_dir, device=device)
        parser["gate"] = gate
        self.device = torch.device(device)
        self.preprocessing = parser.get_parsed_content("preprocessing")
        self.postprocessing = parser.get_parsed_content("postprocessing")
        self.class_names = list(parser.get_parsed_content("class_names"))
        self.threshold = operating_threshold(parser.get_parsed_content("calibration")["threshold"], self.class_names)
        self.gate = parser.get_parsed_content("input_gate")
        self.input_mode = parser.get_parsed_content("input_mode")
        network = parser.get_parsed_content("network_def")
        network.load_state_dict(torch.jit.load(str(model_file), map_location="cpu").state_dict())
        self.network = network.to(self.device).eval()
        self.features = PenultimateFeatures(feature_layer(self.network))
        self.saliency = ClassSaliency(self.network) if saliency else None
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(Keys.IMAGE)
        spec.input(Keys.LUNG)
        spec.output("probabilities")

    def compute(self, op_input, op_output, context) -> None:
        image, lung = op_input.receive(Keys.IMAGE), op_input.receive(Keys.LUNG)
        loaded = MetaTensor(torch.as_tensor(image.asnumpy()), meta=dict(image.metadata()))  # the header for the gate
        data = self.preprocessing({Keys.IMAGE: loaded, Keys.LUNG: lung.asnumpy()})
        with self.features, torch.no_grad():
            data[Keys.PRED] = self.network(data[Keys.IMAGE][None].to(self.device))[0]
        probs = self.postprocessing(data)[Keys.PRED].detach().cpu().numpy()
        predicted = int(probs.argmax())
        gate = self.gate.decide_on(data, self.gate.ood_distances(self.features.last)[0])
        chosen = decision(probs, self.class_names, self.threshold) or self.class_names[predicted]
        result = {
            "input_mode": self.input_mode,
            "prediction": self.class_names[predicted],
            "probabilities": {n: float(p) for n, p in zip(self.class_names, probs)},
            "decision": ABSTAIN if gate.abstains else chosen,
            "not_assessed": [check for check, _ in gate.failed],
            **gate.fields(),
        }
        if self.threshold is not None:
            result["threshold"] = self.threshold
        if self.saliency is not None:
            result["saliency"], result["saliency_overlay"] = self.saliency.explain(
                data[Keys.IMAGE], predicted, data.get(Keys.LUNG), self.class_names
            )
        op_output.emit(result, "probabilities")


class CXRResultWriterOperator(Operator):
    """Per radiograph ``<output>/<SOPInstanceUID>/``: ``lung_mask.png``, ``lung_seg.dcm`` (DICOM SEG),
    ``classification_sr.dcm`` (DICOM SR) and ``result.json``; ``results.json`` lists every radiograph
    and every file skipped, with the reason. A DICOM object that cannot be made is reported, not fatal."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, skipped: dict[str, str], **kwargs) -> None:
        self.output_folder = Path(output_folder)
        self.summary: dict[str, Any] = {"radiographs": [], "skipped": skipped}
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(Keys.IMAGE)
        spec.input("mask")
        spec.input("probabilities")

    def compute(self, op_input, op_output, context) -> None:
        image, mask = op_input.receive(Keys.IMAGE), op_input.receive("mask")
        probabilities = op_input.receive("probabilities")
        meta = image.metadata()
        folder = self.output_folder / meta["SOPInstanceUID"]
        folder.mkdir(parents=True, exist_ok=True)
        lung = mask.asnumpy()
        result = {
            "file": str(meta["filename_or_obj"]),
            "SOPInstanceUID": meta["SOPInstanceUID"],
            "rows_columns": [int(s) for s in lung.shape],
            "lung_fraction": round(float(lung.mean()), 4),
        }
        if "error" in meta:
            result["error"] = meta["error"]
        else:
            write_png((lung > 0).astype(np.uint8) * 255, folder / "lung_mask.png")
            overlay = probabilities.pop("saliency_overlay", None)
            if overlay is not None:  # at the classifier's input size, as the share inside the lungs was measured
                write_png(overlay, folder / "saliency.png")
                probabilities["saliency"]["map"] = str(folder / "saliency.png")
            result.update(probabilities, lung_mask=str(folder / "lung_mask.png"))
            source = Path(meta["filename_or_obj"])
            for key, what, write in (
                ("lung_seg", "DICOM SEG", lambda: write_lung_seg(source, lung, folder / "lung_seg.dcm")),
                (
                    "classification_sr",
                    "DICOM SR",
                    lambda: write_classification_sr(
                        source,
                        probabilities["probabilities"],
                        folder / "classification_sr.dcm",
                        not_assessed=probabilities["not_assessed"],
                    ),
                ),
            ):
                try:
                    result[key] = str(write())
                except Exception as e:  # noqa: BLE001 - a header highdicom refuses: the PNG and the JSON still stand
                    result[f"{key}_error"] = f"{what} not written: {type(e).__name__}: {e}"
                    logger.error("%s: %s", source, result[f"{key}_error"])
        write_json(result, folder / "result.json")
        self.summary["radiographs"].append(result)
        write_json(self.summary, self.output_folder / "results.json")
        logger.info("%s: %s", result["file"], json.dumps({k: result.get(k) for k in ("prediction", "probabilities")}))
