"""Inference throughput over a folder: images/s through each bundle's own inference workflow
(``configs/inference.json``: its data loader, preprocessing, ``SupervisedEvaluator``, postprocessing and
writers), on copies of one radiograph, with freshly initialised weights (speed does not depend on them).

The segmentation bundle writes one mask per input; the classification bundle (``input_mode`` lung)
predicts each mask on the fly with the segmentation bundle and writes ``predictions.csv``. The clock
runs over ``evaluator.run()``: the work per folder, without the interpreter's start and the imports.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from monai_ext.bundle import inference_parser, write_class_names
from monai_ext.constants import BINARY_CLASSES, CLS_BUNDLE, MODEL_FILE, REPO_ROOT, SEG_BUNDLE

__all__ = ["folder_throughput"]

#: the classification bundle's setting benchmarked: lung masks predicted on the fly (the two-stage path)
_CLS_SETTINGS = {"input_mode": "lung", "backbone": "resnet50"}


def _with_random_weights(bundle: str, folder: Path) -> Path:
    """A copy of the bundle's configs under ``folder`` with freshly initialised weights in ``models/``."""
    target = folder / bundle
    shutil.copytree(REPO_ROOT / "bundles" / bundle / "configs", target / "configs")
    parser = inference_parser(target)
    for key, value in (_CLS_SETTINGS | {"class_names": list(BINARY_CLASSES)} if bundle == CLS_BUNDLE else {}).items():
        parser[key] = value
    (target / "models").mkdir()
    torch.save(parser.get_parsed_content("network_def").state_dict(), target / "models" / MODEL_FILE)
    if bundle == CLS_BUNDLE:
        write_class_names(parser["class_names"], target / "models")
    return target


def _run(bundle_dir: Path, settings: dict[str, Any], device: str) -> float:
    parser = inference_parser(bundle_dir, device=device)
    for key, value in settings.items():
        parser[key] = value
    evaluator = parser.get_parsed_content("evaluator")
    start = time.perf_counter()
    evaluator.run()
    return time.perf_counter() - start


def folder_throughput(source: str | Path, copies: int = 16, amp: bool = False, device: str = "cpu") -> list[dict]:
    """Images/s of each bundle's inference workflow over a folder of ``copies`` copies of ``source``."""
    source = Path(source)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = tmp / "inputs"
        inputs.mkdir()
        for i in range(copies):
            shutil.copy(source, inputs / f"case_{i:03d}{source.suffix}")
        seg, cls = _with_random_weights(SEG_BUNDLE, tmp), _with_random_weights(CLS_BUNDLE, tmp)
        runs = {
            SEG_BUNDLE: (seg, {"output_dir": str(tmp / "masks")}),
            CLS_BUNDLE: (cls, {**_CLS_SETTINGS, "output_dir": str(tmp / "predictions"), "seg_bundle_dir": str(seg)}),
        }
        for bundle, (bundle_dir, settings) in runs.items():
            seconds = _run(bundle_dir, {"dataset_dir": str(inputs), "amp": amp, **settings}, device)
            rows.append(
                {
                    "bundle": bundle,
                    "input": source.name,
                    "images": copies,
                    "amp": amp,
                    "seconds": seconds,
                    "images_per_s": copies / seconds,
                }
            )
    return rows
