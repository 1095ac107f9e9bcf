"""Command lines of MONAI's bundle CLI, spelled in one place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monai_ext.constants import MODEL_FILE

__all__ = ["bundle_command", "export_torchscript", "override_args"]


def bundle_command(*args: str) -> list[str]:
    """``python -m monai.bundle ARGS...`` with this interpreter, as a list for ``subprocess``."""
    return [sys.executable, "-m", "monai.bundle", *map(str, args)]


def override_args(settings: dict) -> list[str]:
    """``--key value`` arguments of the bundle CLI for each setting; bools as ``True``/``False``, since Fire
    reads ``false`` as a (truthy) string."""
    return [x for key, value in settings.items() for x in (f"--{key}", str(value))]


def export_torchscript(
    bundle_dir: str | Path, filepath: str | Path, ckpt_file: str | Path | None = None, net_id: str = "network_def"
) -> subprocess.CompletedProcess:
    """``python -m monai.bundle ckpt_export`` of the bundle's weights (default ``models/model.pt``) to
    ``filepath``, with its metadata and ``inference.json`` embedded; the finished process is returned."""
    bundle_dir = Path(bundle_dir)
    Path(filepath).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        bundle_command(
            "ckpt_export",
            net_id,
            "--filepath",
            filepath,
            "--ckpt_file",
            ckpt_file or bundle_dir / "models" / MODEL_FILE,
            "--meta_file",
            bundle_dir / "configs" / "metadata.json",
            "--config_file",
            bundle_dir / "configs" / "inference.json",
            "--bundle_root",
            bundle_dir,
        ),
        capture_output=True,
        text=True,
        check=False,
    )
