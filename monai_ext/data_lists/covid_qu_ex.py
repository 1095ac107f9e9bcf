"""Data list from the COVID-QU-Ex "Lung Segmentation Data" layout.

``<root>/<Train|Val|Test>/<class>/images/<name>`` with its mask at ``<root>/<split>/<class>/lung masks/<name>``.
Train is training, Val validation, Test test, as the dataset publishes them. Train is required;
a missing Val or Test folder gives an empty split, named in ``missing_splits``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from monai_ext.data.image_reader import is_cxr_file
from monai_ext.data_lists.common import Problems, count_by_class
from monai_ext.errors import DataListError

__all__ = ["build_covid_qu_ex"]

FOLDER_SPLITS = {"Train": "training", "Val": "validation", "Test": "test"}
MASK_FOLDER = "lung masks"


def build_covid_qu_ex(root: str | os.PathLike) -> dict[str, Any]:
    """Pair every image with its lung mask; classes are the class folders found (sorted).

    Raises:
        DataListError: a split folder is missing or empty, or images lack masks (counts and first names).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataListError(f"{root}: no such folder (expected the COVID-QU-Ex 'Lung Segmentation Data' folder)")
    problems = Problems(f"{root}: COVID-QU-Ex layout problems")
    found: dict[str, list[tuple[str, Path]]] = {split: [] for split in FOLDER_SPLITS.values()}
    missing = []
    for folder, split in FOLDER_SPLITS.items():
        split_dir = root / folder
        if not split_dir.exists() and folder != "Train":
            missing.append(folder)
            continue
        class_dirs = sorted(d for d in split_dir.iterdir() if (d / "images").is_dir()) if split_dir.is_dir() else []
        if not class_dirs:
            problems.add("split folders missing or without <class>/images", str(split_dir))
            continue
        for class_dir in class_dirs:
            images = sorted(p for p in (class_dir / "images").iterdir() if is_cxr_file(p))
            if not images:
                problems.add("empty image folders", str(class_dir / "images"))
            for image in images:
                if not (class_dir / MASK_FOLDER / image.name).is_file():
                    problems.add("images without a lung mask", str(image.relative_to(root)))
                found[split].append((class_dir.name, image))
    problems.raise_if_any()

    classes = sorted({name for items in found.values() for name, _ in items})
    datalist: dict[str, Any] = {"dataset": "covid-qu-ex", "classes": classes, "missing_splits": missing}
    for split, items in found.items():
        datalist[split] = [
            {
                "image": str(image.relative_to(root)),
                "lung": str((image.parent.parent / MASK_FOLDER / image.name).relative_to(root)),
                "label": classes.index(class_name),
                "class_name": class_name,
                "patient_id": image.stem,  # COVID-QU-Ex publishes no patient ids
                "source": "covid-qu-ex",
            }
            for class_name, image in items
        ]
    datalist["counts"] = {split: count_by_class(datalist[split], classes) for split in FOLDER_SPLITS.values()}
    return datalist
