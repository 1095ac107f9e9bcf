"""Finding the chest radiographs in a folder of DICOM files: CR or DX, one frame, body part chest or unstated;
every other file is reported with the reason it was left out."""

from __future__ import annotations

from pathlib import Path

import pydicom

from monai_ext.gate.checks import ACCEPTED_MODALITIES, CHEST_BODY_PARTS

__all__ = ["find_chest_radiographs"]


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
        if modality not in ACCEPTED_MODALITIES:
            skipped[str(path)] = f"modality {modality or 'missing'} is not a radiograph (CR, DX)"
        elif body_part and body_part not in CHEST_BODY_PARTS:
            skipped[str(path)] = f"body part {body_part} is not the chest"
        elif frames != 1:
            skipped[str(path)] = f"{frames} frames; one expected"
        else:
            chosen.append(path)
    return chosen, skipped
