"""Finding a bundle's folder and its files: the copy being run, wherever it is. Never this repository's
copy unless that is the one being run."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

__all__ = ["LARGE_FILES", "find_bundle_root", "large_file_entries"]

#: the model zoo's list of files a bundle downloads instead of committing them
LARGE_FILES = "large_files.yml"


def _is_bundle(folder: Path, name: str) -> bool:
    meta = folder / "configs" / "metadata.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("name") == name
    except json.JSONDecodeError:
        return False


def _command_config_files(argv: Sequence[str]) -> Iterator[Path]:
    """The paths given to ``--config_file`` on a ``python -m monai.bundle`` command line: one path, a
    comma-separated list or a Python list literal, as MONAI's command line takes them."""
    for i, arg in enumerate(argv):
        if arg == "--config_file" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--config_file="):
            value = arg.partition("=")[2]
        else:
            continue
        for part in re.split(r"[\[\],'\"]+", value):
            if part.strip():
                yield Path(part.strip())


def find_bundle_root(name: str, argv: Sequence[str] | None = None) -> str:
    """The folder of bundle ``name`` being run: the bundle holding the command's ``--config_file``, else
    the working directory when it is that bundle (or its ``configs``, as in the model zoo), else
    ``bundles/<name>`` under the working directory. ``--bundle_root`` (or a caller's ``bundle_root``
    override) skips this search.

    Args:
        name: the bundle's ``name`` in its ``configs/metadata.json``.
        argv: the command line to read ``--config_file`` from (default ``sys.argv``).

    Raises:
        FileNotFoundError: none of these is bundle ``name``.
    """
    cwd = Path.cwd()
    from_command = [path.resolve().parent.parent for path in _command_config_files(sys.argv if argv is None else argv)]
    for folder in (*from_command, cwd, cwd.parent, cwd / "bundles" / name):
        if _is_bundle(folder, name):
            return str(folder)
    raise FileNotFoundError(
        f"bundle {name!r} is neither the bundle of --config_file, nor the working directory {cwd}, nor "
        f"under its bundles/: pass --bundle_root explicitly"
    )


def large_file_entries(bundle: str | Path) -> list[dict]:
    """The ``large_files`` entries of ``bundle/large_files.yml`` (empty when there is none)."""
    path = Path(bundle) / LARGE_FILES
    if not path.is_file():
        return []
    return (yaml.safe_load(path.read_text()) or {}).get("large_files", [])
