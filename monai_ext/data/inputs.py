"""A batch job's inputs: every file found is either an item to process or a skipped input with its reason.

The inference configs call :func:`scan_segmentation_inputs` and :func:`scan_classification_inputs`;
their ``skipped`` list goes into the job's ``manifest.csv`` beside the rows of what was written
(:class:`monai_ext.handlers.InferenceManifest`), so every input is accounted for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monai.utils import StrEnum

from monai_ext.constants import MANIFEST_FILE, RUN_FILE, Keys
from monai_ext.data.datalist import classification_items
from monai_ext.data.image_reader import is_cxr_file, radiograph_problem, read_cxr
from monai_ext.data.image_writer import mask_name_for
from monai_ext.data.output_dir import RunStatus, run_status
from monai_ext.data.paths import link_problem, output_names, refuse_outputs_over_inputs, resolve_inside
from monai_ext.errors import CXRError, CXRReadError, DataListError
from monai_ext.utils import read_csv, write_csv

__all__ = [
    "InputScan",
    "ManifestStatus",
    "find_cxr_images",
    "mask_lookup",
    "mask_path_for",
    "mask_rows",
    "read_manifest",
    "readable_items",
    "scan_classification_inputs",
    "scan_segmentation_inputs",
    "write_manifest",
]

logger = logging.getLogger(__name__)


class ManifestStatus(StrEnum):
    """An input's ``status`` in a batch job's manifest."""

    WRITTEN = "written"  #: its output is on disk (``output``)
    SKIPPED = "skipped"  #: not processed, for the ``reason`` given


#: what a classification input without a lung mask file gets: a mask predicted on the fly, or skipped
MISSING_MASK_POLICIES = ("predict", "skip")


@dataclass
class InputScan:
    """The inputs of a batch job: ``items`` to process and ``skipped`` ones (``{"input", "reason"}``)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skip(self, name: str, reason: str) -> None:
        logger.warning("skipped: %s: %s", name, reason)
        self.skipped.append({"input": str(name), "reason": reason})

    def report(self, where: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> None:
        """Log how many inputs were skipped; when none is left, write the manifest of the skipped ones
        (to ``output_dir``) and raise, since a batch of nothing is a mistake."""
        if self.skipped:
            total = len(self.skipped) + len(self.items)
            logger.warning(
                "%d of %d inputs skipped (listed with their reasons in %s)", len(self.skipped), total, MANIFEST_FILE
            )
        if not self.items:
            if output_dir is not None:
                write_manifest(Path(output_dir) / MANIFEST_FILE, [], self.skipped)
            first = "; ".join(f"{s['input']}: {s['reason']}" for s in self.skipped[:3])
            raise CXRError(f"{where}: no input to process ({len(self.skipped)} skipped{': ' + first if first else ''})")


def find_cxr_images(
    folder: str | os.PathLike, exclude: Iterable[str | os.PathLike | None] = (), scan: InputScan | None = None
) -> list[dict[str, str]]:
    """Items ``{"image", "name"}`` for every PNG/JPEG/DICOM file under ``folder`` (recursively, sorted by name).

    Hidden files are left out. Folders in ``exclude`` and folders holding a :data:`MANIFEST_FILE` or a
    ``run.json`` (the outputs of an earlier job) are not entered. Links that loop, dangle or point outside ``folder`` and
    entries that are not regular files are recorded in ``scan`` (when given) with their reason.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataListError(f"{root}: no such folder of images")
    excluded = {Path(p).resolve() for p in exclude if p}
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if (here / d).resolve() not in excluded
            and not (here / d / MANIFEST_FILE).is_file()
            and not (here / d / RUN_FILE).is_file()
            and not d.startswith(".")
        )
        for name in sorted(filenames):  # links that loop or dangle are listed here too
            path = here / name
            if name.startswith(".") or not is_cxr_file(path):
                continue
            relative = str(path.relative_to(root))
            problem = link_problem(path, root) if path.is_symlink() else None
            if problem is None and not path.is_file():
                problem = "not a regular file"
            if problem:
                if scan is not None:
                    scan.skip(relative, problem)
                continue
            found.append({Keys.IMAGE: str(path), Keys.NAME: relative})
    return sorted(found, key=lambda item: item[Keys.NAME])


def readable_items(
    items: Iterable[dict[str, Any]], keys: Sequence[str] = (Keys.IMAGE,), scan: InputScan | None = None
) -> list[dict[str, Any]]:
    """The items whose files under ``keys`` read as radiographs (masks: as images) of a plausible size and
    contrast; each other one is logged and recorded in ``scan`` (when given) by name and problem.

    Batch jobs call this first, so that one bad file is reported and the rest still run.
    """
    scan = scan if scan is not None else InputScan()
    good = []
    for item in items:
        problem = None
        for key in keys:
            if key not in item:
                continue
            try:
                image, _ = read_cxr(item[key])
            except CXRReadError as e:
                problem = e.problem if key == Keys.IMAGE else f"lung mask {e}"
                break
            if key == Keys.IMAGE and (reason := radiograph_problem(image)):
                problem = reason
                break
        if problem:
            scan.skip(item.get(Keys.NAME, item.get(Keys.IMAGE, "")), problem)
            continue
        good.append(item)
    return good


MANIFEST_COLUMNS = ("input", "status", "output", "reason")


def skipped_rows(skipped: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """Manifest rows (status ``skipped``, with the reason) of an input scan's skipped inputs."""
    return [{"input": s["input"], "status": ManifestStatus.SKIPPED, "reason": s["reason"]} for s in skipped]


def write_manifest(
    path: str | os.PathLike,
    written: Iterable[Mapping[str, Any]],
    skipped: Iterable[Mapping[str, str]],
    fields: Sequence[str] = (),
) -> None:
    """Write a manifest: the ``written`` rows and the ``skipped`` inputs (status ``skipped`` with their reason),
    sorted by input name, columns :data:`MANIFEST_COLUMNS` plus ``fields``."""
    rows = list(written) + skipped_rows(skipped)
    write_csv(sorted(rows, key=lambda r: str(r["input"])), path, [*MANIFEST_COLUMNS, *fields])


def read_manifest(folder: str | os.PathLike) -> list[dict[str, str]] | None:
    """The rows of ``folder``'s :data:`MANIFEST_FILE`, or None when it has none."""
    path = Path(folder) / MANIFEST_FILE
    return read_csv(path) if path.is_file() else None


def mask_rows(mask_dir: str | os.PathLike) -> Mapping[str, Mapping[str, str]] | None:
    """``{input name: manifest row}`` of the masks a segmentation inference wrote in ``mask_dir`` (status
    ``written``), or None for a folder without a manifest; see :func:`mask_lookup`."""
    rows = read_manifest(mask_dir)
    if rows is None:
        return None
    status = run_status(mask_dir)
    if status is not None and status["status"] != RunStatus.COMPLETE:
        logger.warning(
            "%s: the segmentation job there is %s (process %s, started %s): only the %d masks its manifest lists "
            "as written are used",
            mask_dir,
            status["status"],
            status.get("pid", "?"),
            status.get("started", "?"),
            sum(row.get("status") == ManifestStatus.WRITTEN for row in rows),
        )
    return {row["input"]: row for row in rows if row.get("status") == ManifestStatus.WRITTEN and row.get("output")}


def mask_lookup(mask_dir: str | os.PathLike) -> Mapping[str, str] | None:
    """``{input name: mask name}`` from the manifest of a folder of masks written by the segmentation bundle's
    inference (rows with status ``written``: each written once its mask was complete), or None for a folder
    without one (masks named by :func:`~monai_ext.data.mask_name_for`, as the synthetic ground truth and
    hand-made folders are). A folder whose job is still running or was interrupted is logged: only the masks
    its manifest lists are used, never masks an earlier job left there."""
    rows = mask_rows(mask_dir)
    return None if rows is None else {name: row["output"] for name, row in rows.items()}


def mask_path_for(mask_dir: str | os.PathLike, name: str, lookup: Mapping[str, str] | None) -> Path | None:
    """Where the mask of input ``name`` is in ``mask_dir`` (by its manifest, else by name), or None.

    Raises:
        DataListError: the manifest's output for ``name`` is an absolute path or leaves ``mask_dir``.
    """
    relative = lookup.get(name) if lookup is not None else mask_name_for(name)
    if not relative:
        return None
    resolve_inside(mask_dir, relative, f"{Path(mask_dir) / MANIFEST_FILE}: the mask of {name!r}")
    return Path(mask_dir) / relative


def scan_segmentation_inputs(
    dataset_dir: str | os.PathLike,
    datalist: str | os.PathLike | Mapping[str, Any] | None = None,
    split: str = "test",
    output_dir: str | os.PathLike | None = None,
) -> InputScan:
    """The inputs of lung-mask inference, each with the ``mask_name`` its mask gets in ``output_dir``.

    The items of ``split`` of ``datalist`` when one is given, else every image under ``dataset_dir``
    (``output_dir`` and earlier outputs excluded). Mask names are unique (:func:`output_names`).

    Raises:
        OutputCollisionError: ``output_dir`` is ``dataset_dir`` or a mask would replace an input.
    """
    scan = InputScan()
    if datalist:
        items = [
            {Keys.IMAGE: item[Keys.IMAGE], Keys.NAME: item[Keys.NAME]}
            for item in classification_items(datalist, split, dataset_dir)
        ]
    else:
        items = find_cxr_images(dataset_dir, exclude=[output_dir], scan=scan)
    names = output_names(item[Keys.NAME] for item in items)
    if output_dir is not None:
        refuse_outputs_over_inputs(output_dir, names, [item[Keys.IMAGE] for item in items], dataset_dir)
    for item in items:
        item[Keys.MASK_NAME] = names[item[Keys.NAME]]
    scan.items = readable_items(items, keys=(Keys.IMAGE,), scan=scan)
    scan.report(datalist or dataset_dir, output_dir)
    return scan


def scan_classification_inputs(
    dataset_dir: str | os.PathLike,
    datalist: str | os.PathLike | Mapping[str, Any] | None = None,
    split: str = "test",
    mask_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    needs_mask: bool = True,
    missing_mask: str = "predict",
    seg_model: str | os.PathLike | None = None,
    wants_mask: bool = False,
) -> InputScan:
    """The inputs of classification inference, each with its ``mask_source``: ``file`` (a mask from
    ``mask_dir`` or the data list), ``predicted`` (segmented on the fly) or ``none`` (none to be had, or
    not needed).

    Args:
        dataset_dir: the images (and the root of ``datalist``'s paths).
        datalist, split: a data list and its split to read instead of scanning ``dataset_dir``.
        mask_dir: lung masks: a segmentation inference output (found through its manifest) or masks
            named after the images (``a.dcm`` -> ``a.png``).
        output_dir: the job's output folder, never scanned as input.
        needs_mask: whether the input mode uses lung masks (:func:`~monai_ext.transforms.needs_lung_mask`).
        missing_mask: ``"predict"``: an image without a mask file gets one from the segmentation model;
            ``"skip"``: it is skipped. Either way it is reported by name.
        seg_model: the segmentation weights ``predict`` uses; without them such images are skipped, each named.
        wants_mask: a mask is used when there is one, but not needed (the input gate's mask checks, with
            ``needs_mask`` False): given or predicted as above, and an image without one is kept (``none``).
    """
    if missing_mask not in MISSING_MASK_POLICIES:
        raise ValueError(f"missing_mask must be one of {MISSING_MASK_POLICIES}, got {missing_mask!r}")
    scan = InputScan()
    refused: dict[str, str] = {}  # input name -> why its mask is not taken
    if datalist:
        items = classification_items(datalist, split, dataset_dir, mask_dir)
        for item in items:
            item.pop(Keys.LABEL, None)
    else:
        items = find_cxr_images(dataset_dir, exclude=[output_dir, mask_dir], scan=scan)
        if mask_dir:
            rows = mask_rows(mask_dir)
            lookup = None if rows is None else {name: row["output"] for name, row in rows.items()}
            for item in items:
                try:
                    mask = mask_path_for(mask_dir, item[Keys.NAME], lookup)
                except DataListError as e:
                    refused[item[Keys.NAME]] = str(e)
                    continue
                if mask is not None and mask.is_file():
                    item[Keys.LUNG] = str(mask)
                    tta = (rows or {}).get(item[Keys.NAME], {}).get(Keys.TTA_DISAGREEMENT, "")
                    if tta:  # the segmenter's doubt about this mask, as its inference recorded it
                        item[Keys.TTA_DISAGREEMENT] = float(tta)
    kept = []
    for item in items:
        if needs_mask and item[Keys.NAME] in refused:
            scan.skip(item[Keys.NAME], refused[item[Keys.NAME]])
            continue
        has_file = Keys.LUNG in item and Path(item[Keys.LUNG]).is_file()
        can_predict = missing_mask == "predict" and seg_model is not None and Path(seg_model).is_file()
        if not needs_mask and not (wants_mask and (has_file or can_predict)):
            item.pop(Keys.LUNG, None)
            item[Keys.MASK_SOURCE] = "none"
        elif has_file:
            item[Keys.MASK_SOURCE] = "file"
        else:
            where = f"in {mask_dir}" if mask_dir else "given"
            looked = f"no lung mask {where}"
            item.pop(Keys.LUNG, None)
            if missing_mask == "skip":
                scan.skip(item[Keys.NAME], f"{looked} (missing_mask=skip)")
                continue
            if seg_model is None or not Path(seg_model).is_file():
                scan.skip(item[Keys.NAME], f"{looked}, and no segmentation model at {seg_model} to predict one")
                continue
            logger.info("%s: %s; the lung mask is predicted", item[Keys.NAME], looked)
            item[Keys.MASK_SOURCE] = "predicted"
        kept.append(item)
    scan.items = readable_items(kept, keys=(Keys.IMAGE, Keys.LUNG), scan=scan)
    scan.report(datalist or dataset_dir, output_dir)
    return scan
