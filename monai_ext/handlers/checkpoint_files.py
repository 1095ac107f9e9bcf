"""The files of a training run"s resume checkpoints: which are there, the newest, and the temporary files
an interrupted atomic write leaves."""

from __future__ import annotations

import os
import re
from pathlib import Path

from monai_ext.utils import TEMPORARY_GLOB

__all__ = ["epoch_checkpoints", "latest_checkpoint", "remove_stale_temporaries"]


_EPOCH = re.compile(r"epoch=(\d+)\.pt$")


def epoch_checkpoints(checkpoint_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every interval checkpoint (``*epoch=N.pt``) in ``checkpoint_dir``, oldest first;
    temporary files of an interrupted save are not among them."""
    found = [
        (int(m.group(1)), p)
        for p in Path(checkpoint_dir).glob("*epoch=*.pt")
        if not p.name.startswith(".") and (m := _EPOCH.search(p.name))
    ]
    return sorted(found)


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The interval checkpoint (``*epoch=N.pt``) with the highest epoch in ``checkpoint_dir``, or None."""
    found = epoch_checkpoints(checkpoint_dir)
    return found[-1][1] if found else None


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``folder``; return them."""
    stale = sorted(Path(folder).glob(TEMPORARY_GLOB)) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
