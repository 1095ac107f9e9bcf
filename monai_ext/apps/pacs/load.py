"""Chest radiographs to fill a PACS with (``make pacs-load``): the real CR ``RG1_UNCR.dcm`` of pydicom-data and
synthetic CR and DX studies of the embedded default data, MONOCHROME1 and MONOCHROME2, uncompressed and RLE
Lossless, each with its patient and study identifiers; stored by DICOMweb STOW-RS.

Loading twice stores nothing twice: the files keep their UIDs (the compressed copies get UIDs derived from
their source's) and the project's Orthanc never overwrites an instance.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from monai_ext.apps.pacs.client import PACS, StoreResult
from monai_ext.apps.pacs.objects import derived_uid
from monai_ext.bundle import default_data_path
from monai_ext.tools.synthetic import ensure_default_data

__all__ = ["load_pacs", "load_set"]


def _compressed_copy(ds: Dataset, patient: str) -> Dataset:
    """``ds`` RLE Lossless, as a study of its own (patient ``patient``, UIDs derived from ``ds``'s)."""
    out = pydicom.dcmread(ds.filename) if getattr(ds, "filename", None) else ds.copy()
    out.compress(RLELossless)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(out, keyword, derived_uid("rle", str(ds[keyword].value)))
    out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientID, out.PatientName = patient, f"SYNTHETIC^{patient}"
    out.StudyID, out.AccessionNumber = patient, patient
    return out


def load_set() -> list[Dataset]:
    """The radiographs of ``make pacs-load``: RG1_UNCR.dcm (real CR, MONOCHROME1), a synthetic DX
    (MONOCHROME2) and CR (MONOCHROME1) uncompressed, and an RLE Lossless copy of each in a study of its own."""
    test = Path(default_data_path("covidx", "test"))
    ensure_default_data(test)
    synthetic = {}
    for path in sorted(test.glob("*.dcm")):  # the first DX and the first CR
        ds = pydicom.dcmread(path)
        synthetic.setdefault(str(ds.Modality), ds)
    datasets = [pydicom.dcmread(get_testdata_file("RG1_UNCR.dcm"))]
    for modality in ("DX", "CR"):
        ds = synthetic[modality]
        datasets += [ds, _compressed_copy(ds, f"{ds.PatientID}-RLE")]
    return datasets


def load_pacs(pacs: PACS, datasets: list[Dataset] | None = None) -> StoreResult:
    """Store ``datasets`` (default :func:`load_set`) in ``pacs``, one STOW-RS request per study."""
    result = StoreResult()
    by_study: dict[str, list[Dataset]] = {}
    for ds in datasets if datasets is not None else load_set():
        by_study.setdefault(str(ds.StudyInstanceUID), []).append(ds)
    for study in by_study.values():
        stored = pacs.store(study)
        result.stored += stored.stored
        result.failed.update(stored.failed)
    return result
