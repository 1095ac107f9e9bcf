"""Small helpers shared by the writers: atomic file replacement and stable hashing."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TEMPORARY_GLOB", "atomic_path", "commit", "file_sha256", "write_csv", "write_json"]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: read once, at import: os.umask can only be read by setting it, which is not thread-safe
_UMASK = _read_umask()


#: how the temporary files of :func:`atomic_path` are named: ``.<name>.<random>.tmp<suffix>``
TEMPORARY_GLOB = ".*.tmp*"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and an interrupted writer leaves the old one intact.
    With ``durable`` the new file's bytes and the rename are flushed to the disk (``fsync``) before
    this returns, so a power cut after it cannot take the file back (checkpoints use it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the result gets the mode any new file gets
    try:
        yield Path(tmp)
        commit(Path(tmp), path, durable)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def commit(tmp: Path, path: Path, durable: bool = False) -> None:
    """Rename the complete file ``tmp`` onto ``path`` (replacing it in one step); with ``durable``, fsync
    the file before and its folder after the rename."""
    if durable:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_json(obj: Any, path: str | os.PathLike, indent: int = 4) -> None:
    """Write ``obj`` as JSON atomically, with a final newline."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent) + "\n")


def write_csv(
    rows: Iterable[Mapping[str, Any] | Sequence[Any]], path: str | os.PathLike, fieldnames: Sequence[str]
) -> None:
    """Write ``rows`` (mappings by field name, or sequences in ``fieldnames`` order) as CSV with a header of
    ``fieldnames``, atomically; a mapping's missing fields are left empty."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fieldnames), extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(row if isinstance(row, Mapping) else dict(zip(fieldnames, row)) for row in rows)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
