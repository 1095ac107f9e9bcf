"""Data list from the COVIDx CXR-3 layout: ``train/``, ``test/`` and the published label lists.

Each list row is ``patient_id filename class source``. The validation split is carved out of
train, stratified by class and grouped by patient; test stays the published test list, or, for
cross-source validation, is every image of the sources held out (``test_sources``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_ext.constants import BINARY_CLASSES, Keys
from monai_ext.data.inputs import mask_lookup, mask_path_for
from monai_ext.data.paths import resolve_inside
from monai_ext.errors import DataListError
from monai_ext.tools.data_lists.common import Problems, count_by_class, grouped_stratified_split

__all__ = ["CLASS_SETS", "build_covidx", "read_label_list", "source_classes"]

#: class order per task; the label index is the position (the positive class last)
CLASS_SETS = {"binary": list(BINARY_CLASSES), "3class": ["normal", "pneumonia", "COVID-19"]}
#: list files tried in order: the dataset download's names, then COVID-Net's repository names
LIST_NAMES = {
    ("binary", "train"): ("train.txt", "train_COVIDx_CXR-3B.txt"),
    ("binary", "test"): ("test.txt", "test_COVIDx_CXR-3B.txt"),
    ("3class", "train"): ("train_3class.txt", "train_COVIDx_CXR-3A.txt"),
    ("3class", "test"): ("test_3class.txt", "test_COVIDx_CXR-3A.txt"),
}


def read_label_list(path: Path, classes: list[str]) -> list[dict[str, Any]]:
    """Parse one COVIDx list; class names match case-insensitively.

    Raises:
        DataListError: malformed rows, unknown class names or duplicate file names (counts and first rows).
    """
    lookup = {c.lower(): c for c in classes}
    problems = Problems(f"{path}: label list problems")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 4:
            problems.add("rows without 'patient_id filename class source'", f"line {number}: {line.strip()}")
            continue
        # a file name with spaces keeps them: the class and source are always the last two fields
        patient_id, filename, class_name, source = fields[0], " ".join(fields[1:-2]), fields[-2], fields[-1]
        if class_name.lower() not in lookup:
            problems.add(f"rows with a class not in {classes}", f"line {number}: {class_name}")
            continue
        if filename in seen:
            problems.add("duplicate rows", f"line {number}: {filename}")
            continue
        seen.add(filename)
        canonical = lookup[class_name.lower()]
        rows.append(
            {
                "file": filename,
                Keys.LABEL: classes.index(canonical),
                Keys.CLASS_NAME: canonical,
                Keys.PATIENT_ID: patient_id,
                Keys.SOURCE: source,
            }
        )
    problems.raise_if_any()
    if not rows:
        raise DataListError(f"{path}: the label list has no rows")
    return rows


def _find_list(root: Path, classes: str, split: str, given: str | None) -> Path:
    candidates = [given] if given else LIST_NAMES[(classes, split)]
    for name in candidates:
        path = root / name if not os.path.isabs(name) else Path(name)
        if path.is_file():
            return path
    raise DataListError(f"{root}: no {split} label list (looked for {', '.join(candidates)})")


def source_classes(root: str | os.PathLike, classes: str = "binary") -> dict[str, dict[str, int]]:
    """Images per source and class over the train and test lists of a COVIDx folder (what
    leave-one-source-out can hold out)."""
    names = CLASS_SETS[classes]
    counts: dict[str, Counter] = {}
    for split in ("train", "test"):
        for row in read_label_list(_find_list(Path(root), classes, split, None), names):
            counts.setdefault(row[Keys.SOURCE], Counter())[row[Keys.CLASS_NAME]] += 1
    return {source: dict(sorted(c.items())) for source, c in sorted(counts.items())}


def build_covidx(
    root: str | os.PathLike,
    *,
    classes: str = "binary",
    val_fraction: float = 0.1,
    seed: int = 0,
    masks: str | os.PathLike | None = None,
    train_list: str | None = None,
    test_list: str | None = None,
    check_files: bool = True,
    skip_missing: bool = False,
    test_sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build the training/validation/test data list of a COVIDx CXR-3 folder.

    Args:
        root: the folder holding ``train/``, ``test/`` and the lists.
        classes: ``"binary"`` (positive/negative) or ``"3class"`` (COVID-19/pneumonia/normal).
        val_fraction: share of each class of train moved, by whole patients, to validation.
        seed: seed of the validation split.
        masks: folder of lung masks: the segmentation bundle's inference output (masks found through
            its ``manifest.csv``) or masks named after the images (``<masks>/<split>/<image stem>.png``);
            adds a ``lung`` key relative to it.
        train_list, test_list: list file names (relative to ``root``) instead of the defaults.
        check_files: refuse rows whose image (or mask) file is missing.
        skip_missing: drop such rows with a report instead of refusing them.
        test_sources: hold these sources out whole (cross-source validation): ``test`` is every image of
            them (train and test lists alike), training and validation come from the other sources of
            the train list, and ``test_in_source`` keeps the published test images of the other sources
            (the in-source figure to set beside the out-of-source one). A patient of a held-out source
            is kept out of every other split too.

    Raises:
        DataListError: bad rows, missing files, paths that leave ``root`` (``../``, or a link inside it that
            points outside), a patient in both train and test (counts and first names), a held-out
            source that no row has.
    """
    root = Path(root)
    if classes not in CLASS_SETS:
        raise DataListError(f"--classes must be one of {sorted(CLASS_SETS)}, got {classes!r}")
    if not root.is_dir():
        raise DataListError(f"{root}: no such folder (expected a COVIDx CXR-3 folder with train/, test/, train.txt)")
    names = CLASS_SETS[classes]
    tables = {
        "train": read_label_list(_find_list(root, classes, "train", train_list), names),
        "test": read_label_list(_find_list(root, classes, "test", test_list), names),
    }
    crossing = sorted({r[Keys.PATIENT_ID] for r in tables["train"]} & {r[Keys.PATIENT_ID] for r in tables["test"]})
    problems = Problems(f"{root}: COVIDx problems")
    for pid in crossing:
        problems.add("patients in both the train and test lists", pid)

    dropped: list[str] = []
    lookup = mask_lookup(masks) if masks is not None else None
    split_items: dict[str, list[dict[str, Any]]] = {}
    for folder, rows in tables.items():
        if check_files and not (root / folder).is_dir():
            problems.add("image folders missing", str(root / folder))
            continue
        items = []
        for row in rows:
            image = f"{folder}/{row['file']}"
            try:
                resolve_inside(root, image)
            except DataListError:
                problems.add(f"rows whose path leaves the root {root}", image)
                continue
            item = {
                Keys.IMAGE: image,
                **{k: row[k] for k in (Keys.LABEL, Keys.CLASS_NAME, Keys.PATIENT_ID, Keys.SOURCE)},
            }
            problem = "rows whose image file is missing" if check_files and not (root / image).is_file() else None
            if masks is not None and problem is None:
                mask = mask_path_for(masks, image, lookup)
                if mask is None or (check_files and not mask.is_file()):
                    problem = f"rows without a lung mask in {masks}"
                else:
                    item[Keys.LUNG] = str(mask.relative_to(masks))
            if problem:
                if skip_missing:
                    dropped.append(image)
                else:
                    problems.add(problem, image)
                continue
            items.append(item)
        split_items[folder] = items
    if test_sources:
        known = {r[Keys.SOURCE] for rows in tables.values() for r in rows}
        for source in sorted(set(test_sources) - known):
            problems.add(f"held-out sources that no row has (sources: {', '.join(sorted(known))})", source)
    problems.raise_if_any()

    extra: dict[str, Any] = {}
    if test_sources:
        split_items, extra = _hold_out_sources(split_items, set(test_sources))
    training, validation = grouped_stratified_split(split_items["train"], val_fraction, seed)
    datalist: dict[str, Any] = {
        "dataset": "covidx-cxr3",
        "classes": names,
        "val_fraction": val_fraction,
        "seed": seed,
        "training": training,
        "validation": validation,
        "test": split_items["test"],
        **extra,
    }
    if dropped:
        datalist["skipped_missing"] = dropped
    splits = [s for s in ("training", "validation", "test", "test_in_source") if s in datalist]
    datalist["counts"] = {s: count_by_class(datalist[s], names) for s in splits}
    datalist["sources"] = {s: dict(sorted(Counter(i[Keys.SOURCE] for i in datalist[s]).items())) for s in splits}
    return datalist


def _hold_out_sources(
    split_items: dict[str, list[dict[str, Any]]], held: set[str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """``{"train", "test"}`` items rearranged so that ``test`` is every item of the ``held`` sources, and the
    ``test_in_source`` split and ``test_sources`` record to add to the data list."""
    everything = split_items["train"] + split_items["test"]
    test = [i for i in everything if i[Keys.SOURCE] in held]
    held_patients = {i[Keys.PATIENT_ID] for i in test}

    def others(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i[Keys.SOURCE] not in held and i[Keys.PATIENT_ID] not in held_patients]

    return {"train": others(split_items["train"]), "test": test}, {
        "test_in_source": others(split_items["test"]),
        "test_sources": sorted(held),
    }
