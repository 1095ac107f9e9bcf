"""Helpers of the integration tests (MONAI Label, MONAI Deploy), which run in their own environments
and skip, saying so, in the core one."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from monai_ext.bundle import CALIBRATION_FILE, inference_parser
from monai_ext.constants import CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.utils import file_sha256, write_json

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE


#: the operating point given to the classification copy's weights (as training would save it beside them)
CLS_CALIBRATION = {"temperature": 1.5, "threshold": 0.4, "positive_class": "positive"}


def bundle_copy(name: str, dest: Path, seed: int = 0) -> Path:
    """A copy of ``bundles/<name>`` under ``dest`` whose ``models/model.pt`` is a freshly initialised network
    (seeded): the integrations are tested on their plumbing, independent of any trained weights. The
    classification copy gets :data:`CLS_CALIBRATION` beside its weights."""
    src, out = REPO_ROOT / "bundles" / name, dest / name
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.pt", "*.ts", "eval"))
    parser = inference_parser(out, device="cpu")
    torch.manual_seed(seed)
    torch.save(parser.get_parsed_content("network_def").state_dict(), out / "models" / "model.pt")
    if name == CLS:
        calibration = {**CLS_CALIBRATION, "model_sha256": file_sha256(out / "models" / "model.pt")}
        write_json(calibration, out / "models" / CALIBRATION_FILE)
    return out
