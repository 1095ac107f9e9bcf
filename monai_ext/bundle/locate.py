"""Finding a bundle's folder and its files, from the repository root, from inside the bundle, or anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from monai_ext.constants import REPO_ROOT

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


def find_bundle_root(name: str) -> str:
    """The folder of bundle ``name``: the working directory when it is that bundle (or its ``configs``),
    else ``bundles/<name>`` under the working directory, else the copy in this repository."""
    cwd = Path.cwd()
    for folder in (cwd, cwd.parent, cwd / "bundles" / name, REPO_ROOT / "bundles" / name):
        if _is_bundle(folder, name):
            return str(folder)
    raise FileNotFoundError(f"bundle {name!r} not found from {cwd}; pass --bundle_root explicitly")


def large_file_entries(bundle: str | Path) -> list[dict]:
    """The ``large_files`` entries of ``bundle/large_files.yml`` (empty when there is none)."""
    path = Path(bundle) / LARGE_FILES
    if not path.is_file():
        return []
    return (yaml.safe_load(path.read_text()) or {}).get("large_files", [])
