"""What a fresh clone of this repository holds, for tests that copy part of it: never what a user's runs
left in the checkout (``make weights``' model folders, evaluations, MONAI Label's logs, ``results/``), so
that a test passes the same after ``make demo``, ``make weights``, ``make label`` or ``make reproduce``."""

from __future__ import annotations

import shutil
from pathlib import Path

from monai_ext import constants as mf
from monai_ext.constants import REPO_ROOT
from monai_ext.utils import git_files

#: the files of a model folder that training writes (with the weights); the rest of models/ describes the bundle
TRAINED_FILES = frozenset(
    {mf.MODEL_FILE, mf.TORCHSCRIPT_FILE, mf.SETTINGS_FILE, mf.CALIBRATION_FILE, mf.GATE_FILE}
    | {mf.GATE_FEATURES_FILE, mf.MODEL_CARD_FILE}
)


def source_files(path: str) -> list[str]:
    """The files under ``path`` (relative to the checkout) that a clone would have once committed: those git
    tracks and new ones it does not ignore, as they are in the work tree (:func:`monai_ext.utils.git_files`)."""
    target = REPO_ROOT / path
    files = git_files(target.parent if target.is_file() else target) or []
    files = [f for f in files if f == target or target in f.parents]
    if not files:
        raise FileNotFoundError(f"{REPO_ROOT / path}: no file of the repository there (not a git checkout?)")
    return [str(f.relative_to(REPO_ROOT)) for f in files]


def source_copy(path: str, dest: Path, keep=lambda relative: True) -> Path:
    """``path`` copied to ``dest/<its name>`` as :func:`source_files` lists it (``keep`` may leave files out,
    given their path below ``path``); returns the copy."""
    out = dest / Path(path).name
    for file in source_files(path):
        relative = Path(file).relative_to(path) if file != path else Path(Path(path).name)
        if keep(relative):
            target = out / relative if file != path else out
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / file, target)
    return out


def bundle_source(name: str, dest: Path) -> Path:
    """``bundles/<name>`` copied to ``dest/<name>`` without a trained model folder: configs, docs, LICENSE,
    large_files.yml, and of ``models/`` only what describes the bundle (its README, the class names), so
    that the test gives the copy weights of its own."""
    return source_copy(
        f"bundles/{name}", dest, keep=lambda rel: not (rel.parts[0] == "models" and rel.name in TRAINED_FILES)
    )
