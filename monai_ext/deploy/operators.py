"""Operators of the MONAI Deploy application, one radiograph per message.

- :class:`CXRLoaderOperator` finds the chest radiographs in a folder of DICOM files (CR or DX,
  one frame, body part chest or unstated) and loads each with the project's reader (Modality LUT,
  VOI window, MONOCHROME1 inverted): a 2-D CR has no volume geometry, so the SDK's
  ``DICOMSeriesToVolumeOperator`` does not fit it.
- :class:`LungSegmentationOperator` is the SDK's ``MonaiBundleInferenceOperator`` on the segmentation
  bundle's exported TorchScript (its configs travel inside the file); it emits the mask as a 2-D image.
- :class:`CovidClassifierOperator` runs the classification bundle's preprocessing (lung mask from the
  segmentation operator) and its exported TorchScript, and emits class probabilities.
- :class:`CXRResultWriterOperator` writes, per radiograph, the mask (PNG, 0/255, at the radiograph's
  size, and a DICOM SEG referencing the radiograph), the class probabilities (``result.json`` and a
  DICOM SR measurement report, TID 1500); and ``results.json`` for the whole folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import torch
from highdicom.sr import CodedConcept
from monai.deploy.core import Fragment, Image, Operator, OperatorSpec
from monai.deploy.operators.monai_bundle_inference_operator import MonaiBundleInferenceOperator, filter_compose
from pydicom.sr.codedict import codes

from monai_ext.bundle import inference_parser
from monai_ext.data import read_cxr, write_png
from monai_ext.errors import CXRReadError
from monai_ext.utils import atomic_path, write_json

__all__ = [
    "CHEST_BODY_PARTS",
    "CXRLoaderOperator",
    "CXRResultWriterOperator",
    "CovidClassifierOperator",
    "LungSegmentationOperator",
    "find_chest_radiographs",
    "write_classification_sr",
    "write_lung_seg",
]

logger = logging.getLogger(__name__)

CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", ""}
RADIOGRAPH_MODALITIES = {"CR", "DX"}


def find_chest_radiographs(folder: Path) -> tuple[list[Path], dict[str, str]]:
    """DICOM files under ``folder`` that are single-frame chest radiographs, and why each other file is not."""
    chosen, skipped = [], {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as e:  # noqa: BLE001 - not DICOM, or unreadable: reported, not fatal
            skipped[str(path)] = f"not a readable DICOM file ({type(e).__name__})"
            continue
        modality = str(ds.get("Modality", ""))
        body_part = str(ds.get("BodyPartExamined", "") or "").upper()
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if modality not in RADIOGRAPH_MODALITIES:
            skipped[str(path)] = f"modality {modality or 'missing'} is not a radiograph (CR, DX)"
        elif body_part not in CHEST_BODY_PARTS:
            skipped[str(path)] = f"body part {body_part} is not the chest"
        elif frames != 1:
            skipped[str(path)] = f"{frames} frames; one expected"
        else:
            chosen.append(path)
    return chosen, skipped


def write_lung_seg(source: Path, mask: np.ndarray, out: Path, version: str = "0.1.0") -> Path:
    """A binary DICOM SEG (highdicom) of ``mask`` (rows, columns) over the radiograph ``source``: segment 1,
    lung (SCT), automatic, algorithm ``cxr_lung_segmentation``; new series, written atomically."""
    algorithm = hd.AlgorithmIdentificationSequence(
        name="cxr_lung_segmentation", version=version, family=codes.DCM.ArtificialIntelligence
    )
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="lung",
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Lung,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    seg = hd.seg.Segmentation(
        source_images=[pydicom.dcmread(source)],
        pixel_array=(mask > 0).astype(np.uint8)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cxr-monai",
        manufacturer_model_name="cxr_lung_segmentation",
        software_versions=version,
        device_serial_number="none",
    )
    with atomic_path(out) as tmp:
        seg.save_as(tmp)
    return out


#: private coding scheme of the probability concepts (DICOM reserves "99" prefixes for local schemes)
CODING_SCHEME = "99CXRMONAI"
COVID_19 = CodedConcept("840539006", "SCT", "COVID-19")
CHEST_X_RAY = CodedConcept("24627-2", "LN", "Chest X-ray")


def write_classification_sr(source: Path, probabilities: dict[str, float], out: Path, version: str = "0.1.0") -> Path:
    """A Comprehensive 3D SR measurement report (TID 1500, highdicom) of the class probabilities of the
    radiograph ``source``: one measurement group (finding COVID-19) with one measurement per class,
    the algorithm named, the radiograph as source image; written atomically."""
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    algorithm = hd.sr.AlgorithmIdentification(name="cxr_covid_classification", version=version)
    measurements = [
        hd.sr.Measurement(
            name=CodedConcept(f"P-{name}", CODING_SCHEME, f"Probability of {name}"),
            value=float(p),
            unit=CodedConcept("1", "UCUM", "no units"),
            algorithm_id=algorithm,
        )
        for name, p in probabilities.items()
    ]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="COVID-19 classification"),
        measurements=measurements,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds)],
        finding_type=COVID_19,
        algorithm_id=algorithm,
    )
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name="cxr_covid_classification")
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context, procedure_reported=CHEST_X_RAY, imaging_measurements=[group]
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[ds],
        content=report[0],
        series_number=901,
        series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cxr-monai",
    )
    with atomic_path(out) as tmp:
        sr.save_as(tmp)
    return out


class CXRLoaderOperator(Operator):
    """Emit one chest radiograph per call as an SDK ``Image``: float ``(1, rows, columns)`` in [0, 1],
    air dark, with the reader's metadata plus ``SOPInstanceUID``. Run it with ``CountCondition(len(files))``."""

    def __init__(self, fragment: Fragment, *args, files: list[Path], **kwargs) -> None:
        self.files = list(files)
        self.index = 0
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output("image")

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
        op_output.emit(Image(array[None].astype(np.float32), metadata=meta), "image")


class LungSegmentationOperator(MonaiBundleInferenceOperator):
    """The SDK's bundle operator on the segmentation bundle's TorchScript, for one 2-D radiograph: the
    bundle's postprocessing (``Invertd`` back to the radiograph's size, threshold, two largest
    components, holes filled) without its PNG writer; the mask leaves as a 2-D uint8 ``Image`` (0/1)."""

    def _init_config(self, config_names) -> None:
        super()._init_config(config_names)
        self._postproc = filter_compose(self._postproc, ["SaveLungMask"])

    def _send_output(self, value: Any, name: str, metadata: dict, op_output, context) -> None:
        mask = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        op_output.emit(Image((mask.reshape(mask.shape[-2:]) > 0).astype(np.uint8), metadata=dict(metadata)), name)


class CovidClassifierOperator(Operator):
    """Class probabilities of one radiograph with the classification bundle: its ``inference.json``
    preprocessing (whole image, lungs, or image without lungs, as its ``input_mode`` says; the lung
    mask comes from :class:`LungSegmentationOperator`), its exported TorchScript, softmax."""

    def __init__(
        self, fragment: Fragment, *args, bundle_dir: Path, model_file: Path, device: str = "cpu", **kwargs
    ) -> None:
        parser = inference_parser(bundle_dir, device=device)
        self.device = torch.device(device)
        self.preprocessing = parser.get_parsed_content("preprocessing")
        self.postprocessing = parser.get_parsed_content("postprocessing")
        self.class_names = list(parser.get_parsed_content("class_names"))
        self.input_mode = parser.get_parsed_content("input_mode")
        self.model = torch.jit.load(str(model_file), map_location=self.device).eval()
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("image")
        spec.input("lung")
        spec.output("probabilities")

    def compute(self, op_input, op_output, context) -> None:
        image, lung = op_input.receive("image"), op_input.receive("lung")
        data = self.preprocessing({"image": image.asnumpy(), "lung": lung.asnumpy()})
        with torch.no_grad():
            data["pred"] = self.model(data["image"][None].to(self.device))[0]
        probs = self.postprocessing(data)["pred"].detach().cpu().numpy()
        op_output.emit(
            {
                "input_mode": self.input_mode,
                "prediction": self.class_names[int(probs.argmax())],
                "probabilities": {n: float(p) for n, p in zip(self.class_names, probs)},
            },
            "probabilities",
        )


class CXRResultWriterOperator(Operator):
    """Per radiograph ``<output>/<SOPInstanceUID>/``: ``lung_mask.png``, ``lung_seg.dcm`` (DICOM SEG),
    ``classification_sr.dcm`` (DICOM SR) and ``result.json``; ``results.json`` lists every radiograph
    and every file skipped, with the reason. A DICOM object that cannot be made is reported, not fatal."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, skipped: dict[str, str], **kwargs) -> None:
        self.output_folder = Path(output_folder)
        self.summary: dict[str, Any] = {"radiographs": [], "skipped": skipped}
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("image")
        spec.input("mask")
        spec.input("probabilities")

    def compute(self, op_input, op_output, context) -> None:
        image, mask = op_input.receive("image"), op_input.receive("mask")
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
            result.update(probabilities, lung_mask=str(folder / "lung_mask.png"))
            source = Path(meta["filename_or_obj"])
            for key, what, write in (
                ("lung_seg", "DICOM SEG", lambda: write_lung_seg(source, lung, folder / "lung_seg.dcm")),
                (
                    "classification_sr",
                    "DICOM SR",
                    lambda: write_classification_sr(
                        source, probabilities["probabilities"], folder / "classification_sr.dcm"
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
