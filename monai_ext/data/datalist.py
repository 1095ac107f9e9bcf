"""Turning data-list JSON files into the item lists the bundles' training and evaluation datasets take."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_ext.constants import Keys
from monai_ext.data.paths import resolve_inside
from monai_ext.errors import DataListError

__all__ = ["classification_items", "datalist_classes", "read_datalist", "segmentation_items"]


def read_datalist(datalist: str | os.PathLike | Mapping[str, Any]) -> Mapping[str, Any]:
    """The data list ``datalist`` (a JSON file, or already a mapping); an error names a missing or broken file."""
    if isinstance(datalist, Mapping):
        return datalist
    path = Path(datalist)
    if not path.is_file():
        raise DataListError(
            f"{path}: no such data list (make one with python -m monai_ext.tools.data_lists, or run make data)"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataListError(f"{path}: not valid JSON ({e})") from e


def _inside(root: Path, relative: str, what: str) -> str:
    return str(resolve_inside(root, relative, what))


def _split(datalist: Mapping[str, Any], split: str, where: str) -> list[Mapping[str, Any]]:
    if split not in datalist:
        raise DataListError(
            f"{where}: no {split!r} split (has {[k for k in datalist if isinstance(datalist[k], list)]})"
        )
    return datalist[split]


def datalist_classes(datalist: str | os.PathLike | Mapping[str, Any]) -> list[str]:
    """The class names of a data list (its top-level ``classes``), in label order."""
    classes = read_datalist(datalist).get("classes")
    if not classes:
        raise DataListError(f"{datalist}: no top-level 'classes' list of class names")
    return list(classes)


def segmentation_items(
    datalist: str | os.PathLike | Mapping[str, Any], split: str, dataset_dir: str | os.PathLike
) -> list[dict[str, str]]:
    """Items ``{"image", "label", "name"[, "class_name"]}`` for segmentation: ``label`` is the lung mask (as
    MONAI and MONAI Label name a segmentation target), ``name`` the image path relative to ``dataset_dir``,
    ``class_name`` the item's class when the data list gives one (figures are grouped by it)."""
    root = Path(dataset_dir)
    items = []
    for item in _split(read_datalist(datalist), split, str(datalist)):
        if Keys.LUNG not in item:
            raise DataListError(f"{datalist}: item {item.get('image')!r} of {split!r} has no 'lung' mask")
        items.append(
            {
                Keys.IMAGE: _inside(root, item[Keys.IMAGE], Keys.IMAGE),
                Keys.LABEL: _inside(root, item[Keys.LUNG], "mask"),
                Keys.NAME: item[Keys.IMAGE],
                **({Keys.CLASS_NAME: item[Keys.CLASS_NAME]} if Keys.CLASS_NAME in item else {}),
            }
        )
    return items


def classification_items(
    datalist: str | os.PathLike | Mapping[str, Any],
    split: str,
    dataset_dir: str | os.PathLike,
    mask_dir: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Items ``{"image", "label", "name", "patient_id", "source"[, "lung"]}`` for classification; the
    ``lung`` mask path is resolved under ``mask_dir`` (default ``dataset_dir``)."""
    root = Path(dataset_dir)
    masks = Path(mask_dir) if mask_dir else root
    items = []
    for item in _split(read_datalist(datalist), split, str(datalist)):
        out = {
            Keys.IMAGE: _inside(root, item[Keys.IMAGE], Keys.IMAGE),
            Keys.LABEL: int(item[Keys.LABEL]),
            Keys.NAME: item[Keys.IMAGE],
            Keys.PATIENT_ID: str(item.get(Keys.PATIENT_ID, "")),
            Keys.SOURCE: str(item.get(Keys.SOURCE, "")),
        }
        if Keys.LUNG in item:
            out[Keys.LUNG] = _inside(masks, item[Keys.LUNG], "mask")
        items.append(out)
    return items
