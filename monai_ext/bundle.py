"""Locating a bundle folder and its default data, for configs run from the repo root or the bundle."""

from __future__ import annotations

import json
import logging
from pathlib import Path

__all__ = ["find_bundle_root", "default_synthetic_root"]

logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]


def _is_bundle(folder: Path, name: str) -> bool:
    meta = folder / "configs" / "metadata.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("name") == name
    except json.JSONDecodeError:
        return False


def find_bundle_root(name: str) -> str:
    """The folder of bundle ``name``: the working directory when it is that bundle (or its ``configs``),
    else ``bundles/<name>`` under the working directory, else the copy in this repository."""
    cwd = Path.cwd()
    for folder in (cwd, cwd.parent, cwd / "bundles" / name, REPO_ROOT / "bundles" / name):
        if _is_bundle(folder, name):
            return str(folder)
    raise FileNotFoundError(f"bundle {name!r} not found from {cwd}; pass --bundle_root explicitly")


def default_synthetic_root() -> str:
    """The embedded default dataset, ``<repo>/data/synthetic``, written on first use (seed 0, as ``make data``)."""
    root = REPO_ROOT / "data" / "synthetic"
    if not (root / "synthetic.json").is_file():
        from monai_ext.synthetic.dataset import DEFAULTS, write_synthetic_dataset

        logger.warning("writing the synthetic default dataset to %s (first use, about 30 s)", root)
        write_synthetic_dataset(root, **DEFAULTS)
    return str(root)
