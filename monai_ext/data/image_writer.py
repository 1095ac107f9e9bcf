"""Writing radiographs and masks: PNG (8/16-bit) and DICOM CR/DX, always atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from monai_ext.constants import IMAGE_SUFFIXES
from monai_ext.utils import atomic_path

__all__ = ["mask_name_for", "write_dicom_cr", "write_png"]

_CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
_DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def mask_name_for(image_path: str | os.PathLike) -> str:
    """Relative name of the lung mask written for an image: the image's path with a ``.png`` suffix.

    ``train/a.jpg`` -> ``train/a.png``; ``CR.1.2.840.5.dcm`` -> ``CR.1.2.840.5.png``; a file
    without an image suffix (a DICOM named ``IM0001``) keeps its whole name: ``IM0001.png``.
    """
    p = Path(image_path)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        p = p.with_suffix("")
    return str(p.parent / (p.name + ".png")) if str(p.parent) != "." else p.name + ".png"


def write_png(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write a 2-D uint8 or uint16 array as a grey PNG, or a ``(rows, columns, 3)`` uint8 one as a colour
    PNG, atomically. Floats are refused: scale first."""
    array = np.asarray(array)
    if array.ndim != 2 and not (array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8):
        raise ValueError(f"{path}: a 2-D array (grey) or rows x columns x 3 uint8 (RGB) is expected, got {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: uint8 or uint16 expected for PNG, got {array.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")  # mode L, I;16 or RGB


def write_dicom_cr(
    display: np.ndarray,
    path: str | os.PathLike,
    *,
    monochrome1: bool,
    bits_stored: int = 12,
    modality: str = "CR",
    patient_id: str = "ANON",
    uid_seed: str = "",
    window: bool = True,
) -> None:
    """Write a [0, 1] display image as a single-frame CR or DX DICOM, atomically.

    Stored values use ``bits_stored`` bits; MONOCHROME1 stores the inverted values (air bright),
    and a full-range window (centre/width) is put in the header when ``window`` is set, so a
    reader that applies the VOI window and inverts MONOCHROME1 gets ``display`` back up to
    quantisation. UIDs derive from ``uid_seed``: the same seed gives the same bytes.
    """
    top = 2**bits_stored - 1
    stored = np.round(np.clip(display, 0.0, 1.0) * top).astype(np.uint16)
    if monochrome1:
        stored = (top - stored).astype(np.uint16)
    sop_class = _CR_STORAGE if modality == "CR" else _DX_STORAGE
    sop_uid = generate_uid(entropy_srcs=[uid_seed, "sop"])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[uid_seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[uid_seed, "series"])
    ds.Modality = modality
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Phantom"
    ds.PatientBirthDate = ""  # Type 2 attributes of the patient, study and series modules: present, empty
    ds.PatientSex = ""
    ds.StudyDate = "20200101"
    ds.StudyTime = "120000"
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.ImagerPixelSpacing = [0.4, 0.4]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = (int(s) for s in stored.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    if window:
        ds.WindowCenter = top / 2.0 + 0.5
        ds.WindowWidth = top + 1.0
    ds.PixelData = stored.tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
