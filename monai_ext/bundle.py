"""Locating a bundle folder and its default data, for configs run from the repo root or the bundle."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

__all__ = ["find_bundle_root", "default_synthetic_root", "inference_parser", "export_torchscript"]

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


def inference_parser(bundle_dir: str | Path, device: str | None = None):
    """A ``ConfigParser`` of the bundle's ``configs/inference.json`` and metadata, with ``bundle_root`` set
    to ``bundle_dir`` (and ``device`` replaced when given), as MONAI's bundle scripts set them up."""
    from monai.bundle import ConfigParser

    bundle_dir = Path(bundle_dir)
    parser = ConfigParser()
    parser.read_meta(bundle_dir / "configs" / "metadata.json")
    parser.read_config(bundle_dir / "configs" / "inference.json")
    parser["bundle_root"] = str(bundle_dir)
    if device is not None:
        parser["device"] = f"$torch.device('{device}')"
    return parser


def export_torchscript(bundle_dir: str | Path, filepath: str | Path, ckpt_file: str | Path | None = None,
                       net_id: str = "network_def") -> subprocess.CompletedProcess:
    """``python -m monai.bundle ckpt_export`` of the bundle's weights (default ``models/model.pt``) to
    ``filepath``, with its metadata and ``inference.json`` embedded; the finished process is returned."""
    bundle_dir = Path(bundle_dir)
    Path(filepath).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "monai.bundle", "ckpt_export", net_id, "--filepath", str(filepath),
         "--ckpt_file", str(ckpt_file or bundle_dir / "models" / "model.pt"),
         "--meta_file", str(bundle_dir / "configs" / "metadata.json"),
         "--config_file", str(bundle_dir / "configs" / "inference.json"), "--bundle_root", str(bundle_dir)],
        capture_output=True, text=True)
