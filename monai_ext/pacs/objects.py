"""DICOM objects the Deploy application writes: the lung mask as a DICOM SEG and the class probabilities as a
Comprehensive 3D SR measurement report (TID 1500), both referencing the source radiograph (highdicom)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

from monai_ext.constants import CLS_BUNDLE, SEG_BUNDLE
from monai_ext.gate import CHECKS
from monai_ext.utils import atomic_path

__all__ = ["write_classification_sr", "write_lung_seg"]


def write_lung_seg(source: Path, mask: np.ndarray, out: Path, version: str = "0.1.0") -> Path:
    """A binary DICOM SEG (highdicom) of ``mask`` (rows, columns) over the radiograph ``source``: segment 1,
    lung (SCT), automatic, algorithm ``cxr_lung_segmentation``; new series, written atomically."""
    algorithm = hd.AlgorithmIdentificationSequence(
        name=SEG_BUNDLE, version=version, family=codes.DCM.ArtificialIntelligence
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
        manufacturer_model_name=SEG_BUNDLE,
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


#: the concepts of an SR whose radiograph the input gate did not assess (private codes, as the probabilities')
ASSESSMENT = CodedConcept("ASSESSMENT", CODING_SCHEME, "Assessment by the input gate")
NOT_ASSESSABLE = CodedConcept("NOT-ASSESSABLE", CODING_SCHEME, "Not assessable")
REASON = CodedConcept("REASON", CODING_SCHEME, "Reason not assessed")


def write_classification_sr(
    source: Path,
    probabilities: dict[str, float],
    out: Path,
    version: str = "0.1.0",
    not_assessed: Sequence[str] = (),
) -> Path:
    """A Comprehensive 3D SR measurement report (TID 1500, highdicom) of the class probabilities of the
    radiograph ``source``: one measurement group (finding COVID-19) with one measurement per class,
    the algorithm named, the radiograph as source image; written atomically.

    When the input gate did not answer on the radiograph, ``not_assessed`` names the checks it failed
    (:data:`monai_ext.gate.CHECKS`): the group then holds no probability, but the qualitative evaluation
    "Not assessable" and one "Reason not assessed" per failed check."""
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    algorithm = hd.sr.AlgorithmIdentification(name=CLS_BUNDLE, version=version)
    measurements = [
        hd.sr.Measurement(
            name=CodedConcept(f"P-{name}", CODING_SCHEME, f"Probability of {name}"),
            value=float(p),
            unit=CodedConcept("1", "UCUM", "no units"),
            algorithm_id=algorithm,
        )
        for name, p in probabilities.items()
    ]
    evaluations = None
    if not_assessed:
        measurements = None
        evaluations = [hd.sr.QualitativeEvaluation(name=ASSESSMENT, value=NOT_ASSESSABLE)] + [
            hd.sr.QualitativeEvaluation(
                name=REASON, value=CodedConcept(f"GATE-{check.upper()}", CODING_SCHEME, CHECKS.get(check, check))
            )
            for check in not_assessed
        ]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="COVID-19 classification"),
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds)],
        finding_type=COVID_19,
        algorithm_id=algorithm,
    )
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name=CLS_BUNDLE)
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
