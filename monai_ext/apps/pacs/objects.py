"""DICOM objects the project writes and stores in a PACS: the lung mask as a DICOM SEG, the class
probabilities as a Comprehensive 3D SR measurement report (TID 1500) and a Grad-CAM overlay as a
secondary capture, each referencing the source radiograph (highdicom).

Their Series and SOP Instance UIDs may be given: :func:`derived_uid` makes them from what the object is
a function of (the source instance, the model's weights, the kind of object), so the same model run
again on the same radiograph writes the same UIDs and a PACS that already holds the object is not given
a second copy (:mod:`monai_ext.apps.pacs.roundtrip`)."""

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

__all__ = ["DICOM_OBJECTS", "derived_uid", "write_classification_sr", "write_lung_seg", "write_saliency_sc"]

#: the DICOM objects of a radiograph: result key, file name, what it is
DICOM_OBJECTS = {
    "lung_seg": ("lung_seg.dcm", "DICOM SEG"),
    "classification_sr": ("classification_sr.dcm", "DICOM SR"),
    "saliency_sc": ("saliency_sc.dcm", "DICOM secondary capture"),
}
#: the lung segment's colour in viewers: red (CIE L*a*b* 53, 80, 67 in DICOM's 16-bit scaling)
LUNG_COLOUR = [34734, 53456, 50114]
#: the series numbers of the project's objects, one per kind
SERIES_NUMBER = {"seg": 900, "sr": 901, "sc": 902}


def derived_uid(*parts: str) -> str:
    """A UID that is a function of ``parts`` (pydicom's prefix and a hash of them): the same parts, the
    same UID."""
    if not parts or not all(parts):
        raise ValueError(f"derived_uid needs non-empty parts, got {parts!r}")
    return str(pydicom.uid.generate_uid(entropy_srcs=[str(p) for p in parts]))


def _uids(series_uid: str | None, sop_uid: str | None) -> tuple[str, str]:
    return series_uid or str(hd.UID()), sop_uid or str(hd.UID())


def _pixel_measures(ds: pydicom.Dataset) -> hd.PixelMeasuresSequence:
    """The SEG's pixel measures of a projection radiograph: its PixelSpacing, else its detector's
    (ImagerPixelSpacing) when that is the one with a value, 1 x 1 when it has neither, and no slice thickness (empty: a radiograph has
    none; highdicom reads a SEG back only when the attribute is there)."""
    given = [ds.get(k) for k in ("PixelSpacing", "ImagerPixelSpacing") if ds.get(k) is not None]
    spacing = next((v for v in given if len(v) == 2 and all(float(x) > 0 for x in v)), given[0] if given else None)
    measures = hd.PixelMeasuresSequence(pixel_spacing=[float(x) for x in spacing or (1.0, 1.0)], slice_thickness=None)
    measures[0].SliceThickness = None
    return measures


def write_lung_seg(
    source: Path,
    mask: np.ndarray,
    out: Path,
    version: str = "0.1.0",
    series_uid: str | None = None,
    sop_uid: str | None = None,
    manual: bool = False,
) -> Path:
    """A binary DICOM SEG (highdicom) of ``mask`` (rows, columns) over the radiograph ``source``: segment 1,
    lung (SCT), automatic (algorithm ``cxr_lung_segmentation`` of ``version``) or, with ``manual``, a
    person's label; in the series ``series_uid`` as instance ``sop_uid`` (new UIDs when not given);
    written atomically."""
    algorithm = hd.AlgorithmIdentificationSequence(
        name=SEG_BUNDLE, version=version, family=codes.DCM.ArtificialIntelligence
    )
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="lung",
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Lung,
        algorithm_type=(
            hd.seg.SegmentAlgorithmTypeValues.MANUAL if manual else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        ),
        algorithm_identification=None if manual else algorithm,
    )
    segment.RecommendedDisplayCIELabValue = LUNG_COLOUR
    series_uid, sop_uid = _uids(series_uid, sop_uid)
    source_ds = pydicom.dcmread(source)
    seg = hd.seg.Segmentation(
        source_images=[source_ds],
        pixel_measures=_pixel_measures(source_ds),
        pixel_array=(mask > 0).astype(np.uint8)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=series_uid,
        series_number=SERIES_NUMBER["seg"],
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="cxr-monai",
        manufacturer_model_name=SEG_BUNDLE,
        software_versions=version,
        device_serial_number="none",
    )
    if not any("PlaneOrientationSequence" in group for group in seg.SharedFunctionalGroupsSequence):
        # a projection radiograph has no patient-space plane; viewers that place a SEG by it (OHIF's
        # cornerstone reads ImageOrientationPatient, as it assumes for the radiograph itself) get the
        # image's own axes: rows along x, columns along y
        orientation = pydicom.Dataset()
        orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence = [orientation]
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
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> Path:
    """A Comprehensive 3D SR measurement report (TID 1500, highdicom) of the class probabilities of the
    radiograph ``source``: one measurement group (finding COVID-19) with one measurement per class,
    the algorithm named, the radiograph as source image; written atomically.

    When the input gate did not answer on the radiograph, ``not_assessed`` names the checks it failed
    (:data:`monai_ext.gate.CHECKS`): the group then holds no probability, but the qualitative evaluation
    "Not assessable" and one "Reason not assessed" per failed check. ``series_uid``, ``sop_uid``: as
    :func:`write_lung_seg`."""
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    series_uid, sop_uid = _uids(series_uid, sop_uid)
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
        series_number=SERIES_NUMBER["sr"],
        series_instance_uid=series_uid,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="cxr-monai",
    )
    with atomic_path(out) as tmp:
        sr.save_as(tmp)
    return out


def write_saliency_sc(
    source: Path, overlay: np.ndarray, out: Path, series_uid: str | None = None, sop_uid: str | None = None
) -> Path:
    """The Grad-CAM overlay ``overlay`` (rows, columns, 3 uint8 RGB) as a secondary capture image of the
    patient and study of ``source`` (derived from it, in its PatientOrientation: a source without one is a
    ValueError), written atomically. ``series_uid``, ``sop_uid``: as
    :func:`write_lung_seg`."""
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    orientation = list(ds.get("PatientOrientation") or [])
    if len(orientation) != 2:  # highdicom's secondary capture is in the patient's frame: the source must say it
        raise ValueError(
            f"{source}: PatientOrientation {orientation or 'missing'}: the overlay's orientation is unknown"
        )
    series_uid, sop_uid = _uids(series_uid, sop_uid)
    pixels = np.ascontiguousarray(np.asarray(overlay, dtype=np.uint8))
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"{out}: a saliency overlay is (rows, columns, 3) RGB, got {pixels.shape}")
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ds,
        pixel_array=pixels,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        patient_orientation=tuple(orientation),
        series_instance_uid=series_uid,
        sop_instance_uid=sop_uid,
        series_number=SERIES_NUMBER["sc"],
        instance_number=1,
        manufacturer="cxr-monai",
        series_description="Grad-CAM of the predicted class (cxr_covid_classification)",
    )
    with atomic_path(out) as tmp:
        sc.save_as(tmp)
    return out
