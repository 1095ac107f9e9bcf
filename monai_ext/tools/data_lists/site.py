"""A new site's images split for recalibration: a few of them to refit on, the rest to judge the result on."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from monai_ext.errors import DataListError
from monai_ext.tools.data_lists.common import count_by_class, grouped_stratified_split

__all__ = ["recalibration_split"]


def recalibration_split(datalist: str | os.PathLike, n: int, split: str = "test", seed: int = 0) -> dict[str, Any]:
    """The ``split`` of ``datalist`` (a site's labelled images) as a recalibration list: about ``n`` of its
    images, stratified by class and whole patients at a time, as ``validation`` (what the bundle's
    ``recalibrate`` refits on), the others as ``test`` (what the recalibrated model is judged on); no
    ``training`` images. The list's other top-level keys are kept, with new ``counts`` and the split's
    origin under ``recalibration``."""
    path = Path(datalist)
    source = json.loads(path.read_text())
    items = source.get(split)
    if not items:
        raise DataListError(f"{path}: no {split!r} split to take a site's images from")
    if not 0 < n < len(items):
        raise DataListError(f"{path}: {n} recalibration images asked of a {split!r} split of {len(items)}")
    rest, refit = grouped_stratified_split(items, n / len(items), seed)
    classes = source["classes"]
    out = {k: v for k, v in source.items() if not isinstance(v, list) or k == "classes"}
    out.update(training=[], validation=refit, test=rest)
    out["counts"] = {s: count_by_class(out[s], classes) for s in ("training", "validation", "test")}
    out["recalibration"] = {"from": str(path), "split": split, "n": len(refit), "seed": seed}
    return out
