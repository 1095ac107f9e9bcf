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
  model's threshold (``result.json`` and a DICOM SR measurement report, TID 1500), the Grad-CAM overlay
  when asked (``saliency.png`` and a DICOM secondary capture); and ``results.json`` for the whole folder.
  The DICOM objects (:mod:`monai_ext.apps.pacs.objects`) have UIDs derived from the source instance and the
  models' weights: a rerun writes the same objects, which a PACS stores once.
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

from monai_ext.api import CovidClassifier
from monai_ext.apps.pacs.objects import (
    DICOM_OBJECTS,
    derived_uid,
    write_classification_sr,
    write_lung_seg,
    write_saliency_sc,
)
from monai_ext.constants import Keys
from monai_ext.data import read_cxr, write_png
from monai_ext.errors import CXRReadError
from monai_ext.utils import write_json

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
    bundle's inferer (the image and its mirror image, :class:`~monai_ext.inferers.FlipTTAInferer`) and
    postprocessing (the passes' disagreement, ``Invertd`` back to the radiograph's size, threshold, two
    largest components, holes filled) without its PNG writer and the last step that shapes the mask for
    other tools' writers; the mask leaves as a 2-D uint8 ``Image`` (0/1) of (rows, columns), the passes'
    disagreement in its metadata (``tta_disagreement``, for the input gate)."""

    def _init_config(self, config_names) -> None:
        super()._init_config(config_names)
        self._postproc = filter_compose(self._postproc, ["SaveLungMask", "AsLabelImage"])
        self._disagreement = float("nan")

    def post_process(self, data: Any, *args, **kwargs) -> Any:
        out = super().post_process(data, *args, **kwargs)
        self._disagreement = out.get(Keys.TTA_DISAGREEMENT, float("nan")) if isinstance(out, dict) else float("nan")
        return out

    def _send_output(self, value: Any, name: str, metadata: dict, op_output, context) -> None:
        mask = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        meta = {**metadata, Keys.TTA_DISAGREEMENT: self._disagreement}
        op_output.emit(Image((mask.reshape(mask.shape[-2:]) > 0).astype(np.uint8), metadata=meta), name)


class CovidClassifierOperator(Operator):
    """Class probabilities of one radiograph with the classification bundle, by
    :class:`~monai_ext.api.CovidClassifier` (the bundle's ``inference.json`` preprocessing, network,
    temperature and softmax, input gate and decision at the model's operating threshold, ``abstain`` when
    the gate does not answer) on the weights of the bundle's exported TorchScript; the lung mask comes from
    :class:`LungSegmentationOperator`. With ``saliency``, a Grad-CAM map of the predicted class too: its
    share inside the lungs and an overlay picture (``saliency_overlay``, RGB) go with the probabilities."""

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
        self.classifier = CovidClassifier(bundle_dir, device=device, gate=gate, saliency=saliency, weights=model_file)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(Keys.IMAGE)
        spec.input(Keys.LUNG)
        spec.output("probabilities")

    def compute(self, op_input, op_output, context) -> None:
        image, lung = op_input.receive(Keys.IMAGE), op_input.receive(Keys.LUNG)
        loaded = MetaTensor(torch.as_tensor(image.asnumpy()), meta=dict(image.metadata()))  # the header for the gate
        tta = lung.metadata().get(Keys.TTA_DISAGREEMENT)  # the segmentation operator's test-time passes
        op_output.emit(self.classifier.classify(loaded, lung.asnumpy(), tta), "probabilities")


class CXRResultWriterOperator(Operator):
    """Per radiograph ``<output>/<SOPInstanceUID>/``: ``lung_mask.png``, ``lung_seg.dcm`` (DICOM SEG),
    ``classification_sr.dcm`` (DICOM SR), with a Grad-CAM map ``saliency.png`` and ``saliency_sc.dcm``,
    and ``result.json``; ``results.json`` lists every radiograph and every file skipped, with the reason.
    A DICOM object that cannot be made is reported, not fatal.

    Args:
        output_folder: where the results go.
        skipped: the input files left out, with the reason (in ``results.json``).
        model_ids: what identifies the outputs' models, per object (``lung_seg``, ``classification_sr``,
            ``saliency_sc``; the weights' hashes and settings): each DICOM object's UIDs are derived from the
            source instance and its entry (:func:`~monai_ext.apps.pacs.objects.derived_uid`). New UIDs without it.
    """

    def __init__(
        self,
        fragment: Fragment,
        *args,
        output_folder: Path,
        skipped: dict[str, str],
        model_ids: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        self.output_folder = Path(output_folder)
        self.summary: dict[str, Any] = {"radiographs": [], "skipped": skipped}
        self.model_ids = dict(model_ids or {})
        super().__init__(fragment, *args, **kwargs)

    def _uids(self, key: str, sop_uid: str) -> dict[str, str]:
        model = self.model_ids.get(key)
        if not model:
            return {}
        return {"series_uid": derived_uid(key, model, sop_uid, "series"), "sop_uid": derived_uid(key, model, sop_uid)}

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
            # the mask's own figures stand: the gate's lung_fraction among the classifier's fields is measured at
            # the classifier's input size (and empty when the gate is off)
            result = {**probabilities, **result, "lung_mask": str(folder / "lung_mask.png")}
            source, sop = Path(meta["filename_or_obj"]), meta["SOPInstanceUID"]
            writers = {
                "lung_seg": lambda out, uids: write_lung_seg(source, lung, out, **uids),
                "classification_sr": lambda out, uids: write_classification_sr(
                    source, probabilities["probabilities"], out, not_assessed=probabilities["not_assessed"], **uids
                ),
            }
            if overlay is not None:
                writers["saliency_sc"] = lambda out, uids: write_saliency_sc(source, overlay, out, **uids)
            for key, write in writers.items():
                name, what = DICOM_OBJECTS[key]
                try:
                    result[key] = str(write(folder / name, self._uids(key, sop)))
                except Exception as e:  # noqa: BLE001 - a header highdicom refuses: the PNG and the JSON still stand
                    result[f"{key}_error"] = f"{what} not written: {type(e).__name__}: {e}"
                    logger.error("%s: %s", source, result[f"{key}_error"])
        write_json(result, folder / "result.json")
        self.summary["radiographs"].append(result)
        write_json(self.summary, self.output_folder / "results.json")
        logger.info("%s: %s", result["file"], json.dumps({k: result.get(k) for k in ("prediction", "probabilities")}))
