"""A model folder says how to use it: the training run's settings saved beside the weights.

Training writes ``models/settings.json`` with each new best model (``BestModelSaver``): the bundle and
the settings the weights only work with (the classifier's ``backbone``, ``input_mode``,
``crop_to_lung``, ``image_size`` and class names; the segmenter's ``image_size``). Inference and
evaluation read their defaults from it (:func:`model_setting`), so MONAI Label and MONAI Deploy,
which parse the same ``inference.json``, get them too; and :func:`check_model_settings` refuses a
value given on the command line that contradicts the file, naming both. A folder without the file
(weights from before it existed) falls back to the configs' defaults.

Training also fits, on the validation split alone, a temperature and an operating threshold
(``CalibrationFitter``) and saves them as ``models/calibration.json``, tied to the ``model.pt`` they
were fitted for by its SHA-256: :func:`read_calibration` refuses a calibration of other weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_ext.errors import CXRError

__all__ = [
    "CALIBRATION_FILE",
    "SETTINGS_FILE",
    "ModelSettingsError",
    "check_model_settings",
    "model_setting",
    "read_calibration",
    "read_model_settings",
    "write_model_settings",
]

#: the training run's settings, beside the weights in the bundle's ``models`` folder
SETTINGS_FILE = "settings.json"
#: temperature and operating threshold fitted on validation, beside the weights
CALIBRATION_FILE = "calibration.json"
#: what inference and evaluation use when a model folder has no calibration: probabilities as they are, argmax
NO_CALIBRATION = {"temperature": 1.0, "threshold": None, "positive_class": None}


class ModelSettingsError(CXRError):
    """A setting given for a model contradicts the settings it was trained with."""


def write_model_settings(settings: Mapping[str, Any], ckpt_dir: str | os.PathLike) -> Path:
    """Save the training run's settings beside the weights, atomically."""
    from monai_ext.utils import write_json

    path = Path(ckpt_dir) / SETTINGS_FILE
    write_json(dict(settings), path)
    return path


def _read_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`ModelSettingsError` naming the file when it is not one."""
    try:
        content = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelSettingsError(f"{path}: not a readable {what} file ({e})") from e
    if not isinstance(content, dict):
        raise ModelSettingsError(f"{path}: expected a JSON object of {what}, got {type(content).__name__}")
    return content


def read_model_settings(ckpt_dir: str | os.PathLike) -> dict[str, Any]:
    """The settings saved beside the weights in ``ckpt_dir`` (empty when there is no settings file)."""
    path = Path(ckpt_dir) / SETTINGS_FILE
    return _read_object(path, "settings") if path.is_file() else {}


def model_setting(ckpt_dir: str | os.PathLike, name: str, default: Any) -> Any:
    """The model's ``name`` setting from ``ckpt_dir/settings.json``; ``default`` when it has none."""
    return read_model_settings(ckpt_dir).get(name, default)


def check_model_settings(ckpt_dir: str | os.PathLike, **given: Any) -> None:
    """Raise :class:`ModelSettingsError` listing every given setting that differs from the model's own
    (each with both values and the file); settings the file does not hold are not checked."""
    saved = read_model_settings(ckpt_dir)
    conflicts = [
        f"{name}={value!r} given, the model was trained with {name}={saved[name]!r}"
        for name, value in given.items()
        if name in saved and saved[name] != value
    ]
    if conflicts:
        path = Path(ckpt_dir) / SETTINGS_FILE
        raise ModelSettingsError(
            f"{path}: " + "; ".join(conflicts) + ". Leave these settings out to use the model's own, "
            "or point ckpt_dir at a model trained with the ones you want"
        )


def read_calibration(ckpt_dir: str | os.PathLike, model_file: str = "model.pt") -> dict[str, Any]:
    """The calibration saved beside the weights (``temperature``, ``threshold`` of ``positive_class``, ...);
    :data:`NO_CALIBRATION` when the folder has none. Raises :class:`ModelSettingsError` when it was
    fitted for other weights than ``ckpt_dir/model_file``."""
    from monai_ext.utils import file_sha256

    path = Path(ckpt_dir) / CALIBRATION_FILE
    if not path.is_file():
        return dict(NO_CALIBRATION)
    calibration = _read_object(path, "calibration")
    weights = Path(ckpt_dir) / model_file
    if weights.is_file() and calibration.get("model_sha256") != file_sha256(weights):
        raise ModelSettingsError(
            f"{path} was fitted for other weights than {weights}: run the training command again (it resumes "
            "and refits), or remove the file to use uncalibrated probabilities"
        )
    return calibration
