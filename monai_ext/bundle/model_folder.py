"""A bundle's model folder (``models/``): its file names, one read of all of them, one validation.

Training writes, beside the weights ``model.pt``:

- ``settings.json``: the bundle and the settings the weights only work with (the classifier's
  ``backbone``, ``input_mode``, ``crop_to_lung``, ``image_size`` and ``class_names``; the segmenter's
  ``image_size``) and the weights' SHA-256 (``model_sha256``);
- ``classes.json``: the class names in label order (classification);
- ``calibration.json``: the temperature and operating threshold fitted on validation
  (``CalibrationFitter``), with the SHA-256 of the weights they were fitted for;
- ``gate.json`` and ``gate_features.pt``: the input gate's model of the training images' features and its
  threshold set on validation (``GateFitter``), tied to the weights and to each other by SHA-256.

:func:`read_model_folder` reads every one of them once and checks them against :data:`SCHEMAS`
(types, ranges: a threshold in [0, 1], a finite temperature in the range calibration searches, an
``image_size`` the networks accept, booleans as booleans) and against each other (the same class
names in every file, the positive class the last one, the SHA-256s equal to the weights', the
folder's bundle the one asked for). Every problem is reported at once, each naming the file, the
field, the value and what is allowed (:class:`ModelSettingsError`). Inference, evaluation, MONAI
Label and MONAI Deploy all read a model folder through it, before any image is read; a file a
folder does not have falls back to the configs' defaults (weights from before it existed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from monai_ext.constants import (
    BUNDLE_NAMES,
    CALIBRATION_FILE,
    CLASSES_FILE,
    CLS_BUNDLE,
    GATE_FEATURES_FILE,
    GATE_FILE,
    INPUT_MODES,
    MODEL_FILE,
    SEG_BUNDLE,
    SETTINGS_FILE,
    TORCHSCRIPT_FILE,
    positive_index,
)
from monai_ext.errors import CXRError
from monai_ext.gate.ood import FeatureDensity
from monai_ext.metrics.calibration import TEMPERATURE_RANGE
from monai_ext.networks.backbones import BACKBONES
from monai_ext.utils import file_sha256, schema_problems, write_json

__all__ = [
    "IMAGE_SIZE_RANGE",
    "NO_CALIBRATION",
    "SCHEMAS",
    "SETTING_DEFAULTS",
    "ModelFolder",
    "ModelSettingsError",
    "read_model_folder",
    "write_class_names",
    "write_model_settings",
]

#: the settings a model folder's ``settings.json`` may lack (a folder written before they were recorded, or a
#: bare ``model.pt``): each bundle's training default, which ``ModelFolder.setting`` falls back to (a test holds
#: them equal to the bundles' ``train.json``)
SETTING_DEFAULTS = {
    SEG_BUNDLE: {"image_size": 256},
    CLS_BUNDLE: {"backbone": "resnet50", "input_mode": "lung", "crop_to_lung": False, "image_size": 224},
}
#: :meth:`ModelFolder.setting` without a default of its own: the table's
_TABLE = object()
#: what inference and evaluation use when a model folder has no calibration: probabilities as they are, argmax
NO_CALIBRATION = {"temperature": 1.0, "threshold": None, "positive_class": None}
#: network input sides the bundles train and infer at: below 32 px the classifiers' last stage has no cells,
#: above 2048 px one image no longer fits a usual GPU
IMAGE_SIZE_RANGE = (32, 2048)

_CLASS_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 2, "uniqueItems": True}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

#: the JSON schema of each file of a model folder (Draft 7: the jsonschema of MONAI Label's environment reads it)
SCHEMAS: dict[str, dict[str, Any]] = {
    SETTINGS_FILE: {
        "type": "object",
        "properties": {
            "bundle": {"enum": list(BUNDLE_NAMES)},
            "image_size": {"type": "integer", "minimum": IMAGE_SIZE_RANGE[0], "maximum": IMAGE_SIZE_RANGE[1]},
            "backbone": {"enum": list(BACKBONES)},
            "input_mode": {"enum": list(INPUT_MODES)},
            "crop_to_lung": {"type": "boolean"},
            "class_names": _CLASS_NAMES,
            "model_sha256": _SHA256,
        },
    },
    CLASSES_FILE: _CLASS_NAMES,
    GATE_FILE: {
        "type": "object",
        "required": ["method", "threshold", "features_sha256", "model_sha256"],
        "properties": {
            "method": {"enum": ["mahalanobis"]},
            "threshold": {"type": "number", "exclusiveMinimum": 0},
            "n_components": {"type": "integer", "minimum": 1},
            "n_train": {"type": "integer", "minimum": 3},
            "features_sha256": _SHA256,
            "model_sha256": _SHA256,
        },
    },
    CALIBRATION_FILE: {
        "type": "object",
        "required": ["temperature", "threshold", "model_sha256"],
        "properties": {
            "temperature": {"type": "number", "minimum": TEMPERATURE_RANGE[0], "maximum": TEMPERATURE_RANGE[1]},
            "threshold": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "positive_class": {"type": ["string", "null"]},
            "class_names": _CLASS_NAMES,
            "model_sha256": _SHA256,
        },
    },
}


class ModelSettingsError(CXRError):
    """A model folder's files are unreadable, invalid or inconsistent, or a setting given for a model
    contradicts the settings it was trained with."""


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(path: Path) -> Any:
    """The JSON in ``path``; NaN and Infinity, which Python's reader would take, are refused."""
    return json.loads(path.read_text(), parse_constant=_refuse_constant)


def validate_file(name: str, content: Any, path: Path) -> list[str]:
    """Every way ``content`` (of the model-folder file ``name``) breaks its schema, one line each, naming
    ``path``, the field, the value and what is allowed."""
    return [
        f"{path}: {field}{'' if shown is None else f' = {json.dumps(shown)}'}: {allowed}"
        for field, shown, allowed in schema_problems(SCHEMAS[name], content)
    ]


@dataclass
class ModelFolder:
    """What a model folder holds, read and checked once (:func:`read_model_folder`).

    Attributes:
        path: the folder.
        settings: ``settings.json`` (empty when there is none).
        class_names: ``classes.json`` (None when there is none).
        calibration: ``calibration.json``, or :data:`NO_CALIBRATION` when there is none.
        gate: ``gate.json``, or None when there is none.
        bundle: the bundle that read it (or that its ``settings.json`` names), for :data:`SETTING_DEFAULTS`.
    """

    path: Path
    bundle: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] | None = None
    calibration: dict[str, Any] = field(default_factory=lambda: dict(NO_CALIBRATION))
    gate: dict[str, Any] | None = None

    @property
    def weights(self) -> Path:
        """The weights file, ``models/model.pt``."""
        return self.path / MODEL_FILE

    @property
    def torchscript(self) -> Path:
        """The exported weights, ``models/model.ts``."""
        return self.path / TORCHSCRIPT_FILE

    def setting(self, name: str, default: Any = _TABLE) -> Any:
        """The model's ``name`` setting; when ``settings.json`` has none (or there is no file), ``default``,
        else the bundle's training default of :data:`SETTING_DEFAULTS`; refused when neither says."""
        if name in self.settings:
            return self.settings[name]
        if default is not _TABLE:
            return default
        table = SETTING_DEFAULTS.get(self.bundle or self.settings.get("bundle"), {})
        if name not in table:
            raise ModelSettingsError(
                f"{self.path / SETTINGS_FILE}: no {name} recorded, and none of {self.bundle or 'an unknown bundle'}'s "
                "defaults: give it on the command line"
            )
        return table[name]

    def classes(self) -> list[str]:
        """The class names in label order; a folder without ``classes.json`` is refused."""
        if self.class_names is None:
            raise ModelSettingsError(
                f"{self.path / CLASSES_FILE}: no class names beside the weights (training writes it with {MODEL_FILE})"
            )
        return list(self.class_names)

    def calibrated_prior(self) -> dict[str, float]:
        """The class frequencies the model's probabilities were calibrated at: those of the images its
        temperature was fitted on (a recalibration's local images, else training's validation split, from
        ``calibration.json`` and ``settings.json``). Refused when the folder does not say."""
        counts = (self.calibration.get("recalibration") or {}).get("counts")
        where = f"{self.path / CALIBRATION_FILE}: recalibration.counts"
        if counts is None:
            splits = (self.settings.get("training_data") or {}).get("splits") or {}
            counts = (splits.get("validation") or {}).get("classes")
            where = f"{self.path / SETTINGS_FILE}: training_data.splits.validation.classes"
        names = self.classes()
        if not counts or set(counts) != set(names) or not all(isinstance(counts[c], int) for c in names):
            raise ModelSettingsError(
                f"{where} (the class counts the probabilities were calibrated at) are missing or are not a "
                f"count per class of {names}"
            )
        total = sum(counts[c] for c in names)
        if total == 0 or min(counts[c] for c in names) == 0:
            raise ModelSettingsError(f"{self.path}: calibrated on {counts}: a class with no image has no prior")
        return {c: counts[c] / total for c in names}

    def gate_density(self) -> tuple[Any, float | None]:
        """The input gate's feature density (:class:`~monai_ext.gate.FeatureDensity`) and threshold, or
        ``(None, None)`` for a folder without ``gate.json``."""
        if self.gate is None:
            return None, None
        state = torch.load(self.path / GATE_FEATURES_FILE, map_location="cpu", weights_only=True)
        return FeatureDensity(state), float(self.gate["threshold"])

    def check_given(self, **given: Any) -> None:
        """Raise :class:`ModelSettingsError` listing every given setting that differs from the model's own
        (each with both values and the file); settings the file does not hold are not checked."""
        conflicts = [
            f"{name}={value!r} given, the model was trained with {name}={self.settings[name]!r}"
            for name, value in given.items()
            if name in self.settings and self.settings[name] != value
        ]
        if conflicts:
            raise ModelSettingsError(
                f"{self.path / SETTINGS_FILE}: " + "; ".join(conflicts) + ". Leave these settings out to use the "
                "model's own, or point ckpt_dir at a model trained with the ones you want"
            )


def read_model_folder(ckpt_dir: str | os.PathLike, bundle: str | None = None) -> ModelFolder:
    """Read and check every file of the model folder ``ckpt_dir`` (see the module's docs).

    Args:
        ckpt_dir: the model folder (a bundle's ``models``).
        bundle: the bundle that reads it: a folder whose ``settings.json`` names another is refused.

    Raises:
        ModelSettingsError: listing every problem found, one a line.
    """
    path = Path(ckpt_dir)
    problems: list[str] = []
    content: dict[str, Any] = {}
    for name in (SETTINGS_FILE, CLASSES_FILE, CALIBRATION_FILE, GATE_FILE):
        file = path / name
        if not file.is_file():
            continue
        try:
            content[name] = _load_json(file)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            problems.append(f"{file}: not a readable JSON file ({e})")
            continue
        found = validate_file(name, content[name], file)
        problems += found
        if found:  # checked against the others only once it is itself valid
            content.pop(name)
    settings, classes, calibration, gate = (
        content.get(n) for n in (SETTINGS_FILE, CLASSES_FILE, CALIBRATION_FILE, GATE_FILE)
    )
    if settings is not None and bundle is not None and settings.get("bundle", bundle) != bundle:
        problems.append(
            f"{path / SETTINGS_FILE}: bundle = {json.dumps(settings['bundle'])}: this is a model of another bundle, "
            f"not of {bundle}"
        )
    lists = {
        f"{path / CLASSES_FILE}": classes,
        f"{path / SETTINGS_FILE}: class_names": (settings or {}).get("class_names"),
        f"{path / CALIBRATION_FILE}: class_names": (calibration or {}).get("class_names"),
    }
    given = {where: names for where, names in lists.items() if names is not None}
    if len({tuple(names) for names in given.values()}) > 1:
        problems.append(
            "the class names differ between the model's files (the same names in the same order are needed: "
            "a swapped order inverts every prediction): " + "; ".join(f"{w} {n}" for w, n in given.items())
        )
    names = next(iter(given.values()), None)
    weights = path / MODEL_FILE
    digest = file_sha256(weights) if weights.is_file() and (settings or calibration or gate) else None
    for name, record in ((SETTINGS_FILE, settings), (CALIBRATION_FILE, calibration), (GATE_FILE, gate)):
        saved = (record or {}).get("model_sha256")
        if digest is not None and saved is not None and saved != digest:
            problems.append(
                f"{path / name}: model_sha256 = {saved[:16]}...: was written for other weights than {weights} "
                f"(sha256 {digest[:16]}...); run the training command again (it resumes and rewrites it), "
                "or remove the file"
            )
    if calibration is not None and names is not None:
        problems += _calibration_against_classes(path / CALIBRATION_FILE, calibration, names)
    if gate is not None:
        features = path / GATE_FEATURES_FILE
        if not features.is_file():
            problems.append(f"{path / GATE_FILE}: its features file {features} is missing")
        elif file_sha256(features) != gate["features_sha256"]:
            problems.append(
                f"{path / GATE_FILE}: features_sha256 = {gate['features_sha256'][:16]}...: is not the hash of "
                f"{features}; run the training command again, or remove both files to run without the gate's "
                "feature check"
            )
    if problems:
        raise ModelSettingsError(
            f"{path}: the model folder is not valid ({len(problems)} problem{'s' * (len(problems) > 1)}):\n  "
            + "\n  ".join(problems)
        )
    return ModelFolder(
        path=path,
        bundle=bundle or (settings or {}).get("bundle"),
        settings=dict(settings or {}),
        class_names=None if classes is None else list(classes),
        calibration=dict(calibration) if calibration is not None else dict(NO_CALIBRATION),
        gate=None if gate is None else dict(gate),
    )


def _calibration_against_classes(file: Path, calibration: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """A binary model's threshold is of its last class; a model of more classes has none."""
    problems = []
    positive, threshold = calibration.get("positive_class"), calibration.get("threshold")
    if len(names) == 2 and positive is not None and positive != names[positive_index(names)]:
        problems.append(
            f"{file}: positive_class = {json.dumps(positive)}: must be the last class, "
            f"{json.dumps(names[positive_index(names)])}"
        )
    if len(names) != 2 and threshold is not None:
        problems.append(f"{file}: threshold = {threshold}: a model of {len(names)} classes has none (null)")
    return problems


def write_model_settings(settings: Mapping[str, Any], ckpt_dir: str | os.PathLike) -> Path:
    """Save the training run's settings beside the weights, atomically."""
    path = Path(ckpt_dir) / SETTINGS_FILE
    write_json(dict(settings), path)
    return path


def write_class_names(class_names: Sequence[str], ckpt_dir: str | os.PathLike) -> None:
    """Save the class names beside the weights, atomically."""
    write_json(list(class_names), Path(ckpt_dir) / CLASSES_FILE)
