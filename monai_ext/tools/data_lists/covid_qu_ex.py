"""Data list from the COVID-QU-Ex "Lung Segmentation Data" layout.

``<root>/<Train|Val|Test>/<class>/images/<name>`` with its mask at ``<root>/<split>/<class>/lung masks/<name>``.
Train is training, Val validation, Test test, as the dataset publishes them. Train is required;
a missing Val or Test folder gives an empty split, named in ``missing_splits``, unless
``test_fraction`` asks for a test split held out of Train (by patient, stratified by class) when
there is no Test folder (a development sample without one); the data list records it under ``held_out``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from monai_ext.constants import Keys
from monai_ext.data.image_reader import image_shape, is_cxr_file
from monai_ext.errors import CXRReadError, DataListError
from monai_ext.tools.data_lists.common import Problems, count_by_class, grouped_stratified_split

__all__ = ["build_covid_qu_ex"]

FOLDER_SPLITS = {"Train": "training", "Val": "validation", "Test": "test"}
MASK_FOLDER = "lung masks"
#: relative difference of image and mask aspect ratios (rows / columns) above which a pair is refused
MAX_ASPECT_DIFFERENCE = 0.02


def _pair_problem(image: Path, mask: Path) -> str | None:
    """Why an image and its mask cannot be a pair: unreadable headers or aspect ratios that differ.

    Sizes may differ (the COVID-19 Radiography Database pairs 299x299 images with 256x256 masks);
    the shape may not, or training would silently stretch the mask over the image.
    """
    try:
        (ir, ic), (mr, mc) = image_shape(image), image_shape(mask)
    except CXRReadError as e:
        return f"pairs with an unreadable file ({e.problem})"
    if abs((ir / ic) / (mr / mc) - 1.0) > MAX_ASPECT_DIFFERENCE:
        return f"pairs whose image and mask aspect ratios differ by more than {MAX_ASPECT_DIFFERENCE:.0%} (e.g. {ir}x{ic} vs {mr}x{mc})"
    return None


def build_covid_qu_ex(root: str | os.PathLike, test_fraction: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Pair every image with its lung mask; classes are the class folders found (sorted). Without a
    Test folder, ``test_fraction`` > 0 holds that share of Train out as the test split (``seed``).

    Raises:
        DataListError: a split folder is missing or empty, images lack masks, or an image and its mask differ
            in aspect ratio (more than 2%) or cannot be read (counts and first names).
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
                mask = class_dir / MASK_FOLDER / image.name
                if not mask.is_file():
                    problems.add("images without a lung mask", str(image.relative_to(root)))
                elif problem := _pair_problem(image, mask):
                    problems.add(problem, str(image.relative_to(root)))
                found[split].append((class_dir.name, image))
    problems.raise_if_any()

    classes = sorted({name for items in found.values() for name, _ in items})
    datalist: dict[str, Any] = {"dataset": "covid-qu-ex", "classes": classes, "missing_splits": missing}
    for split, items in found.items():
        datalist[split] = [
            {
                Keys.IMAGE: str(image.relative_to(root)),
                Keys.LUNG: str((image.parent.parent / MASK_FOLDER / image.name).relative_to(root)),
                Keys.LABEL: classes.index(class_name),
                Keys.CLASS_NAME: class_name,
                Keys.PATIENT_ID: image.stem,  # COVID-QU-Ex publishes no patient ids
                Keys.SOURCE: "covid-qu-ex",
            }
            for class_name, image in items
        ]
    if "Test" in missing and test_fraction > 0:
        datalist["training"], datalist["test"] = grouped_stratified_split(datalist["training"], test_fraction, seed)
        datalist["missing_splits"] = [m for m in missing if m != "Test"]
        datalist["held_out"] = {"test": {"from": "training", "fraction": test_fraction, "seed": seed}}
    datalist["counts"] = {split: count_by_class(datalist[split], classes) for split in FOLDER_SPLITS.values()}
    return datalist
