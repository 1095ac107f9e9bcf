"""Parsing a bundle's configs outside ``python -m monai.bundle`` (the mask predictor, Deploy, the zoo check)."""

from __future__ import annotations

from pathlib import Path

from monai.bundle import ConfigParser

__all__ = ["inference_parser"]


def inference_parser(bundle_dir: str | Path, device: str | None = None):
    """A ``ConfigParser`` of the bundle's ``configs/inference.json`` and metadata, with ``bundle_root`` set
    to ``bundle_dir`` (and ``device`` replaced when given), as MONAI's bundle scripts set them up."""
    bundle_dir = Path(bundle_dir)
    parser = ConfigParser()
    parser.read_meta(bundle_dir / "configs" / "metadata.json")
    parser.read_config(bundle_dir / "configs" / "inference.json")
    parser["bundle_root"] = str(bundle_dir)
    if device is not None:
        parser["device"] = f"$torch.device('{device}')"
    return parser
