"""The study's profiles: one JSON file each in ``profiles/``, read by MONAI's ``ConfigParser``.

``default.json`` runs on the embedded synthetic data; every other profile is a MONAI override file on top
of it (as a bundle's ``multi_gpu_train.json`` is on ``train.json``): what it does not set, it takes from
the default. ``real`` is close to the published study, ``tiny`` is for tests. ``--set ID=VALUE`` changes
one setting for a run in MONAI's own syntax, ``#`` going one level down (``seg#max_epochs=1``,
``cls_per_backbone#vgg19_bn#max_epochs=3``, ``seed=1``); values are read as JSON, else kept as text.

The sections: ``synthetic`` (the embedded dataset's size and seed), ``seg`` (the segmentation bundle's
settings), ``cls`` (the classification bundle's, on top of the bundle's ``recipes`` for each backbone),
``cls_per_backbone`` (per backbone, on top of ``cls``), ``modes_per_backbone`` (the input modes the main
table trains a backbone on; all by default), ``shortcut`` (the two-hospital experiment: ``n`` images of
``size`` pixels, the backbone and modes trained on them, ``cls`` changes to its settings, ``recalibrate``
and ``prior_shift`` for the new site), ``gate`` (``per_set`` images of each set the gate must refuse),
``leave_one_source_out`` (``min_images``, ``modes``, optional ``backbones``: those of the study it
trains, all when absent; null: not run), ``val_fraction``, ``n_bootstrap``,
``test_sources`` (sources held out whole as the test split; null: none) and ``seed``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from monai_ext.constants import INPUT_MODES
from monai_ext.errors import SettingError
from monai_ext.tools.reproduce.bundle_steps import bundle_config

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "PROFILE_DIR",
    "cls_settings",
    "load_profile",
    "profile_files",
    "run_modes",
    "test_sources",
]

#: the folder of the profiles' files (``<name>.json``)
PROFILE_DIR = Path(__file__).with_name("profiles")
#: the profile every other one overrides
DEFAULT_PROFILE = "default"
#: the profiles there are, by name
PROFILES = tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))


def profile_files(name: str) -> list[Path]:
    """The files of profile ``name``, in the order they are read: the default, then the profile's own."""
    if name not in PROFILES:
        raise SettingError(f"no profile {name!r} in {PROFILE_DIR}: one of {list(PROFILES)}")
    return [
        PROFILE_DIR / f"{DEFAULT_PROFILE}.json",
        *([PROFILE_DIR / f"{name}.json"] if name != DEFAULT_PROFILE else []),
    ]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_profile(name: str, settings: Sequence[str] = ()) -> dict[str, Any]:
    """Profile ``name`` with each ``ID=VALUE`` of ``settings`` applied (MONAI's ``#``-separated ids), its
    expressions evaluated. A setting outside the profile's sections, or inside a section it does not have,
    is refused with the id and the sections there are (a new key inside a known section is a bundle
    setting, and allowed)."""
    parser = ConfigParser(globals={"monai_ext": "monai_ext"})
    parser.read_config([str(f) for f in profile_files(name)])
    for assignment in settings:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise SettingError(f"--set {assignment!r}: expected ID=VALUE, e.g. seg#max_epochs=1")
        top = key.split("#")[0]
        if top not in parser.config:
            raise SettingError(
                f"--set {assignment!r}: no setting {top!r} in the profile: one of {sorted(parser.config)}"
            )
        try:
            parser[key] = _value(text)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise SettingError(f"--set {assignment!r}: the profile has no section to hold it ({e})") from None
    return parser.get_parsed_content("")


def cls_settings(profile: dict, backbone: str) -> dict:
    """The classification settings of ``backbone``: the bundle's recipe for it (``recipes`` in train.json),
    then the profile's ``cls``, then its ``cls_per_backbone`` entry."""
    recipe = json.loads(bundle_config("cls", "train").read_text())["recipes"][backbone]
    return {**recipe, **profile["cls"], **profile.get("cls_per_backbone", {}).get(backbone, {})}


def run_modes(profile: dict, backbone: str, modes=INPUT_MODES) -> list[str]:
    """The input modes of ``modes`` the profile trains ``backbone`` on in the main table: its
    ``modes_per_backbone`` entry when it has one (a list, or comma-separated text), else all of them."""
    chosen = profile.get("modes_per_backbone", {}).get(backbone, modes)
    chosen = [m for m in chosen.split(",") if m] if isinstance(chosen, str) else list(chosen)
    unknown = sorted(set(chosen) - set(INPUT_MODES))
    if unknown:
        raise SettingError(f"modes_per_backbone#{backbone}: {unknown} not among the input modes {list(INPUT_MODES)}")
    return [m for m in modes if m in chosen]


def test_sources(profile: dict) -> list[str]:
    """The sources the profile holds out of the main classification list (``test_sources``: a list, or
    comma-separated text as ``--set test_sources=A,B`` gives it); none by default."""
    value = profile.get("test_sources") or []
    return [s for s in value.split(",") if s] if isinstance(value, str) else list(value)
