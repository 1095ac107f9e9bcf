"""A release archive per bundle (``make release``), in the model zoo's layout: ``<name>_v<version>.zip``
holding ``<name>/`` with ``configs/``, ``docs/``, ``LICENSE``, ``large_files.yml`` and ``models/`` (its
README and, when the bundle has weights that are what they claim to be, the whole model folder: weights,
settings, classes, calibration, gate, model card). MONAI installs it as it installs a zoo bundle:

    python -m monai.bundle download --name cxr_lung_segmentation --url file:///path/cxr_lung_segmentation_v0.3.0.zip --bundle_dir DIR

Weights go in only when :func:`~monai_ext.tools.weights.present_weights` knows them (the project's training
as ``settings.json`` records, or a released file of a bundle's ``large_files.yml``); the archive's
``large_files.yml`` keeps the bundle's entries, each carried file's hash its own, so MONAI's
``download_large_files`` keeps a carried file rather than fetching another (neither bundle lists one
now: nothing was published, so the archive's list is empty). Nothing else of the folder goes in
(``eval/`` outputs, caches, stray files).

    python -m monai_ext.tools.release [--out results/release] [BUNDLE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import yaml

from monai_ext.bundle import LARGE_FILES, large_file_entries
from monai_ext.constants import BUNDLE_NAMES, MODEL_FILE
from monai_ext.tools.weights import BUNDLES, present_weights
from monai_ext.utils import atomic_path, file_sha256

__all__ = ["RELEASE_PARTS", "build_release"]

#: what of a bundle folder a release carries (``models/`` is chosen file by file)
RELEASE_PARTS = ("configs", "docs", "LICENSE")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _large_files_text(bundle: Path, carried: dict[str, str]) -> str:
    """The archive's ``large_files.yml``: the bundle's entries, each carried file's hash its own."""
    entries = large_file_entries(bundle)
    for entry in entries:
        if entry.get("path") in carried:
            entry["hash_val"], entry["hash_type"] = carried[entry["path"]], "sha256"
    header = "# the weights in this archive, with their SHA-256 (download_large_files keeps a file that matches)\n"
    return header + yaml.safe_dump({"large_files": entries}, sort_keys=False)


def build_release(bundle: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir/<name>_v<version>.zip`` of ``bundle`` (atomically) and return its path.

    Raises:
        SystemExit: the bundle's weights are there but are not what they claim to be (as ``make weights``).
    """
    bundle = Path(bundle)
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    name, version = bundle.name, meta["version"]
    models = bundle / "models"
    with_weights = present_weights(bundle) is not None
    carried = {f"models/{MODEL_FILE}": file_sha256(models / MODEL_FILE)} if with_weights else {}
    chosen = [
        p for part in RELEASE_PARTS for p in ([bundle / part] if (bundle / part).is_file() else _files(bundle / part))
    ]
    chosen += _files(models) if with_weights else [p for p in _files(models) if p.suffix in (".md", ".json")]
    out = Path(out_dir) / f"{name}_v{version}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in chosen:
            if path.suffix == ".ts":  # exported per install (ckpt_export); not a released file
                continue
            archive.write(path, f"{name}/{path.relative_to(bundle).as_posix()}")
        archive.writestr(f"{name}/{LARGE_FILES}", _large_files_text(bundle, carried))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.release", description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", help=f"bundle folders (default: {', '.join(BUNDLE_NAMES)} of bundles/)")
    parser.add_argument("--out", default="results/release", help="folder the archives go to")
    args = parser.parse_args(argv)
    for bundle in args.bundles or [BUNDLES / name for name in BUNDLE_NAMES]:
        path = build_release(bundle, args.out)
        with zipfile.ZipFile(path) as archive:
            weights = any(n.endswith(f"/models/{MODEL_FILE}") for n in archive.namelist())
        print(f"{path}: {len(archive.namelist())} files, {'with' if weights else 'without'} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
