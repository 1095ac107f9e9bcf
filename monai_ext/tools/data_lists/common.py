"""Pieces shared by the data-list builders: problem reports, split counts, grouped validation split."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.constants import Keys
from monai_ext.errors import DataListError
from monai_ext.utils import write_json

__all__ = ["Problems", "count_by_class", "format_counts", "grouped_stratified_split", "write_datalist"]


class Problems:
    """Collects bad rows by kind, then raises one :class:`DataListError` with counts and the first names."""

    def __init__(self, where: str, show: int = 5) -> None:
        self.where = where
        self.show = show
        self.found: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, name: str) -> None:
        self.found[kind].append(name)

    def raise_if_any(self) -> None:
        if not self.found:
            return
        lines = []
        for kind, names in self.found.items():
            first = ", ".join(repr(n) for n in names[: self.show])
            more = f" and {len(names) - self.show} more" if len(names) > self.show else ""
            lines.append(f"  {len(names)} {kind}: {first}{more}")
        raise DataListError(f"{self.where}:\n" + "\n".join(lines))


def count_by_class(items: Iterable[dict[str, Any]], classes: Sequence[str]) -> dict[str, int]:
    counter = Counter(item[Keys.CLASS_NAME] for item in items)
    return {c: counter.get(c, 0) for c in classes}


def format_counts(datalist: dict[str, Any]) -> str:
    """One report line per split: ``training: 120 (COVID-19 40, normal 80)``."""
    lines = []
    for split in datalist["counts"]:  # the standard splits, then any other (test_in_source)
        counts = datalist["counts"][split]
        per_class = ", ".join(f"{c} {n}" for c, n in counts.items())
        lines.append(f"{split}: {sum(counts.values())} ({per_class})")
    return "\n".join(lines)


def grouped_stratified_split(
    items: Sequence[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split ``items`` into (kept, held out) with about ``fraction`` of each class held out,
    moving whole patients (``patient_id``) so that no patient is on both sides.

    A patient is stratified by the class most of its images carry. Deterministic for a seed.
    """
    if not 0.0 <= fraction < 1.0:
        raise DataListError(f"validation fraction must be in [0, 1), got {fraction}")
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_patient[str(item[Keys.PATIENT_ID])].append(i)
    by_class: dict[str, list[str]] = defaultdict(list)
    for pid, idx in by_patient.items():
        majority = Counter(items[i][Keys.CLASS_NAME] for i in idx).most_common(1)[0][0]
        by_class[majority].append(pid)
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for cls in sorted(by_class):
        patients = sorted(by_class[cls])
        rng.shuffle(patients)
        target = fraction * sum(len(by_patient[p]) for p in patients)
        taken = 0
        for pid in patients:
            if taken >= target or (taken > 0 and taken + len(by_patient[pid]) > 1.5 * target):
                continue
            held.add(pid)
            taken += len(by_patient[pid])
    kept = [it for it in items if str(it[Keys.PATIENT_ID]) not in held]
    out = [it for it in items if str(it[Keys.PATIENT_ID]) in held]
    return kept, out


def write_datalist(datalist: dict[str, Any], out: str | os.PathLike) -> Path:
    out = Path(out)
    write_json(datalist, out)
    return out
