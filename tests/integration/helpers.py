"""Helpers of the integration tests (MONAI Label, MONAI Deploy), which run in their own environments
and skip, saying so, in the core one."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from monai_ext.bundle import inference_parser
from monai_ext.constants import CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE


def bundle_copy(name: str, dest: Path, seed: int = 0) -> Path:
    """A copy of ``bundles/<name>`` under ``dest`` whose ``models/model.pt`` is a freshly initialised network
    (seeded): the integrations are tested on their plumbing, independent of any trained weights."""
    src, out = REPO_ROOT / "bundles" / name, dest / name
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.pt", "*.ts", "eval"))
    parser = inference_parser(out, device="cpu")
    torch.manual_seed(seed)
    torch.save(parser.get_parsed_content("network_def").state_dict(), out / "models" / "model.pt")
    return out
