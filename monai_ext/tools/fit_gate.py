"""Fit the input gate's thresholds at a stated false-refusal rate, on validation radiographs and mild
degradations of them (never the test split), and keep them in the classifier's ``gate.json``.

    python -m monai_ext.tools.fit_gate --datalist DATALIST --dataset-dir DIR --cls-models MODELS --seg-bundle SEG_BUNDLE --work WORK

The validation split's radiographs are written under ``WORK/images`` as they are and with each of
:data:`~monai_ext.tools.gate_sets.MILD` (JPEG quality 20, 256 px, gamma 0.8, a 6 degree turn, a 5% border
crop); the classification bundle's inference runs on them (its documented command, the lung masks
predicted on the fly by ``SEG_BUNDLE`` with its test-time passes), and every threshold of the gate is
fitted on the scores it wrote (:func:`~monai_ext.gate.thresholds.fit_thresholds`: each check at most
``--check-rate``, the whole gate at most ``--gate-rate``; a file the reader refused counts as refused).
``MODELS/gate.json`` is then written again, whole and atomically, with the thresholds and their records
(rate, images, refused), and its density part as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.constants import GATE_FILE
from monai_ext.data import classification_items
from monai_ext.gate import CHECKS
from monai_ext.gate.thresholds import BOUNDS, CHECK_RATE, GATE_RATE, fit_thresholds
from monai_ext.tools.gate_sets import MILD, infer_folder, write_kinds
from monai_ext.utils import write_json

__all__ = ["FIT_SPLIT", "THRESHOLDLESS_CHECKS", "fit_from_predictions", "fit_gate"]

#: the split the gate is fitted on
FIT_SPLIT = "validation"
#: the checks that refuse without a threshold (a header, the number of lung regions, the lower edge)
THRESHOLDLESS_CHECKS = tuple(sorted(set(CHECKS) - {b.check for b in BOUNDS.values()}))


def fit_from_predictions(
    rows: Sequence[Mapping[str, Any]],
    refused: Mapping[str, str] = {},
    check_rate: float = CHECK_RATE,
    gate_rate: float = GATE_RATE,
) -> dict[str, Any]:
    """The thresholds fitted on predictions ``rows`` (the classification bundle's ``predictions.csv``: its
    scores and ``gate_checks``) and the files the reader ``refused`` (each a refused fitting image)."""
    scored: list[Mapping[str, Any]] = list(rows)
    others = [bool(set(str(r.get("gate_checks") or "").split("; ")) & set(THRESHOLDLESS_CHECKS)) for r in rows]
    scored += [{} for _ in refused]
    others += [True for _ in refused]
    return fit_thresholds(scored, check_rate, gate_rate, others)


def fit_gate(
    datalist: Path,
    dataset_dir: Path,
    cls_models: Path,
    seg_bundle: Path,
    work: Path,
    check_rate: float = CHECK_RATE,
    gate_rate: float = GATE_RATE,
    extra: Sequence[str] = (),
    max_radiographs: int | None = None,
) -> dict[str, Any]:
    """Fit the gate of ``cls_models`` (see the module's docs), on at most ``max_radiographs`` validation
    radiographs (a seeded sample; all by default); returns ``gate.json`` as written."""
    path = cls_models / GATE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file; train the classifier first (its training fits the feature density)"
        )
    record = json.loads(path.read_text())
    items = classification_items(datalist, FIT_SPLIT, dataset_dir)
    if max_radiographs is not None and len(items) > max_radiographs:
        chosen = np.random.default_rng(0).choice(len(items), max_radiographs, replace=False)
        items = [items[i] for i in sorted(chosen)]
    if not items:
        raise ValueError(f"{datalist}: the {FIT_SPLIT!r} split is empty: no radiographs to fit the gate on")
    images = work / "images"
    write_kinds(items, images, MILD, keep_original=True)
    rows, refused = infer_folder(images, cls_models, seg_bundle, work / "inference", extra)
    fit = fit_from_predictions(rows, refused, check_rate, gate_rate)
    record["thresholds"] = fit["thresholds"]
    record["fit"] = fit["gate"] | {
        "split": FIT_SPLIT,
        "radiographs": len(items),
        "degradations": list(MILD),
        "reader_refused": len(refused),
    }
    write_json(record, path)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.fit_gate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datalist", type=Path, required=True, help="the classifier's data list (its validation split)"
    )
    parser.add_argument("--dataset-dir", type=Path, required=True, help="the folder its paths are relative to")
    parser.add_argument("--cls-models", type=Path, required=True, help="the classification model folder")
    parser.add_argument("--seg-bundle", type=Path, required=True, help="a segmentation bundle with its weights")
    parser.add_argument("--work", type=Path, required=True, help="where the fitting images and their inference go")
    parser.add_argument("--check-rate", type=float, default=CHECK_RATE, help="each check's false-refusal rate at most")
    parser.add_argument(
        "--gate-rate", type=float, default=GATE_RATE, help="the whole gate's false-refusal rate at most"
    )
    parser.add_argument("--max-radiographs", type=int, default=None, help="validation radiographs used at most")
    args, extra = parser.parse_known_args(argv)
    record = fit_gate(
        args.datalist,
        args.dataset_dir,
        args.cls_models,
        args.seg_bundle,
        args.work,
        args.check_rate,
        args.gate_rate,
        extra,
        args.max_radiographs,
    )
    fit = record["fit"]
    print(
        f"gate fitted on {fit['n']} images ({fit['radiographs']} {fit['split']} radiographs, each also "
        f"{', '.join(fit['degradations'])}): refuses {100 * fit['refused']:.2f}% of them "
        f"(at most {100 * fit['rate']:.1f}%), each check at {100 * fit['check_rate']:.2f}%"
    )
    for name, t in record["thresholds"].items():
        if t["threshold"] is not None:
            print(f"  {name:24s} {t['side']:5s} {t['threshold']:10.4g}  n {t['n']}  refused {t['refused']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
