"""Turning data-list JSON files and folders into the item lists the bundles' datasets take."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from monai_ext.data.image_reader import is_cxr_file, read_cxr
from monai_ext.data.image_writer import mask_name_for
from monai_ext.errors import CXRError, DataListError

__all__ = ["datalist_classes", "segmentation_items", "classification_items", "find_cxr_images", "readable_items", "inference_items"]

logger = logging.getLogger(__name__)


def _load(datalist: str | os.PathLike | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(datalist, Mapping):
        return datalist
    path = Path(datalist)
    if not path.is_file():
        raise DataListError(f"{path}: no such data list (make one with python -m monai_ext.data_lists, or run make data)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataListError(f"{path}: not valid JSON ({e})") from e


def _inside(root: Path, relative: str, what: str) -> str:
    """Absolute path of ``relative`` under ``root``; a path that leaves ``root`` is refused."""
    if os.path.isabs(relative):
        raise DataListError(f"{what} path {relative!r} is absolute: data-list paths are relative to their root {root}")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataListError(f"{what} path {relative!r} leaves its root {root}")
    return str(path)


def _split(datalist: Mapping[str, Any], split: str, where: str) -> list[Mapping[str, Any]]:
    if split not in datalist:
        raise DataListError(f"{where}: no {split!r} split (has {[k for k in datalist if isinstance(datalist[k], list)]})")
    return datalist[split]


def datalist_classes(datalist: str | os.PathLike | Mapping[str, Any]) -> list[str]:
    """The class names of a data list (its top-level ``classes``), in label order."""
    classes = _load(datalist).get("classes")
    if not classes:
        raise DataListError(f"{datalist}: no top-level 'classes' list of class names")
    return list(classes)


def segmentation_items(
    datalist: str | os.PathLike | Mapping[str, Any], split: str, dataset_dir: str | os.PathLike
) -> list[dict[str, str]]:
    """Items ``{"image", "label", "name"}`` for segmentation: ``label`` is the lung mask (as MONAI and
    MONAI Label name a segmentation target), ``name`` the image path relative to ``dataset_dir``."""
    root = Path(dataset_dir)
    items = []
    for item in _split(_load(datalist), split, str(datalist)):
        if "lung" not in item:
            raise DataListError(f"{datalist}: item {item.get('image')!r} of {split!r} has no 'lung' mask")
        items.append(
            {"image": _inside(root, item["image"], "image"), "label": _inside(root, item["lung"], "mask"), "name": item["image"]}
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
    for item in _split(_load(datalist), split, str(datalist)):
        out = {
            "image": _inside(root, item["image"], "image"),
            "label": int(item["label"]),
            "name": item["image"],
            "patient_id": str(item.get("patient_id", "")),
            "source": str(item.get("source", "")),
        }
        if "lung" in item:
            out["lung"] = _inside(masks, item["lung"], "mask")
        items.append(out)
    return items


def find_cxr_images(folder: str | os.PathLike) -> list[dict[str, str]]:
    """Items ``{"image", "name"}`` for every PNG/JPEG/DICOM file under ``folder`` (recursively, sorted)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataListError(f"{root}: no such folder of images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_cxr_file(p) and not p.name.startswith("."))
    return [{"image": str(p), "name": str(p.relative_to(root))} for p in files]


def readable_items(items: Iterable[dict[str, Any]], keys: Iterable[str] = ("image",)) -> list[dict[str, Any]]:
    """Keep the items whose files under ``keys`` read as radiographs; log each one left out, by name and problem.

    Batch jobs call this first, so that one bad file is reported and the rest still run.
    """
    keys = tuple(keys)
    good, bad = [], 0
    for item in items:
        try:
            for key in keys:
                if key in item:
                    read_cxr(item[key])
        except CXRError as e:
            bad += 1
            logger.warning("skipped: %s", e)
            continue
        good.append(item)
    if bad:
        logger.warning("%d of %d inputs could not be read and were skipped", bad, bad + len(good))
    return good


def inference_items(
    dataset_dir: str | os.PathLike,
    datalist: str | os.PathLike | Mapping[str, Any] | None = None,
    split: str = "test",
    mask_dir: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Readable inputs for inference: the items of ``split`` of ``datalist`` when one is given,
    else every image file under ``dataset_dir`` (with its mask from ``mask_dir`` when there is one)."""
    if datalist:
        items = classification_items(datalist, split, dataset_dir, mask_dir)
        for item in items:
            item.pop("label", None)
    else:
        items = find_cxr_images(dataset_dir)
        if mask_dir:
            for item in items:
                mask = Path(mask_dir) / mask_name_for(item["name"])
                if mask.is_file():
                    item["lung"] = str(mask)
    return readable_items(items, keys=("image", "lung"))
