"""Recalibration for a new site: a trained classifier's temperature, operating threshold and input gate
threshold refitted on the site's own labelled images, written as a new model folder (the bundle's
``recalibrate``, ``configs/recalibrate.json``). A workflow run once, not a handler of a training run."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from monai_ext.bundle.model_card import write_model_card
from monai_ext.bundle.model_folder import ModelFolder, read_model_folder
from monai_ext.constants import (
    CALIBRATION_FILE,
    CLASSES_FILE,
    CLS_BUNDLE,
    GATE_FEATURES_FILE,
    GATE_FILE,
    MODEL_FILE,
    SETTINGS_FILE,
)
from monai_ext.errors import CXRError
from monai_ext.gate import PenultimateFeatures, ood_threshold
from monai_ext.metrics.calibration import fit_calibration
from monai_ext.networks.classifier import feature_layer
from monai_ext.networks.weights import temporary_weights, validation_outputs
from monai_ext.utils import NEW_FOLDER_MODE, file_sha256, write_json

__all__ = ["MIN_RECALIBRATION_IMAGES", "MIN_RECALIBRATION_PER_CLASS", "Recalibration"]

logger = logging.getLogger(__name__)


#: the fewest images, and images of each class, a site's list must give for a recalibration
MIN_RECALIBRATION_IMAGES = 20
MIN_RECALIBRATION_PER_CLASS = 5


class Recalibration:
    """Refit a trained model's temperature and operating threshold (and its input gate's out-of-distribution
    threshold) on a new site's own labelled images, without retraining: ``recalibrate`` in the bundle
    (``configs/recalibrate.json``).

    The images are the ``loader``'s (the local data list's validation split); the model is the folder
    ``model_folder``; the result is a new, complete model folder ``output_dir``: the weights, class names,
    settings and gate features copied, ``calibration.json`` refitted (:func:`~monai_ext.metrics.calibration.fit_calibration`)
    with its provenance (the data list and its SHA-256, the number of images per class, the date, the
    original calibration), ``gate.json`` with the threshold set on these images. It is written beside
    ``output_dir`` first, checked as any model folder is, then renamed: a failed recalibration leaves
    nothing, and the original folder is never changed.

    Args:
        network: the classifier (its weights are replaced by the model folder's for the fit, then put back).
        loader: the local images, labelled (never the images the site will judge the result on).
        model_folder: the trained model (:func:`~monai_ext.bundle.read_model_folder`).
        output_dir: the new model folder; it must not exist yet, or be empty.
        datalist: the local data list the images come from (its path is recorded with its hash).
        device: where the network runs.
        target_sensitivity: None for Youden's J, else the most specific threshold reaching it.
        min_images, min_per_class: the fewest images, and of each class, accepted.
        n_bootstrap: resamples of the images for the intervals of temperature and threshold.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        loader: Iterable,
        model_folder: ModelFolder,
        output_dir: str | os.PathLike,
        datalist: str | os.PathLike,
        device: str | torch.device = "cpu",
        target_sensitivity: float | None = None,
        min_images: int = MIN_RECALIBRATION_IMAGES,
        min_per_class: int = MIN_RECALIBRATION_PER_CLASS,
        n_bootstrap: int = 200,
    ) -> None:
        self.network = network
        self.loader = loader
        self.model_folder = model_folder
        self.output_dir = Path(output_dir)
        self.datalist = Path(datalist)
        self.device = device
        self.target_sensitivity = target_sensitivity
        self.min_images = min_images
        self.min_per_class = min_per_class
        self.n_bootstrap = n_bootstrap

    def _refuse_output(self) -> None:
        out = self.output_dir.resolve()
        if out == self.model_folder.path.resolve() or out.is_relative_to(self.model_folder.path.resolve()):
            raise CXRError(f"output_dir {self.output_dir} is the model folder {self.model_folder.path} or inside it")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CXRError(
                f"output_dir {self.output_dir} is not empty: recalibration writes a new model folder and never "
                "replaces one; choose a new folder"
            )

    def run(self) -> Path:
        """Fit and write the new model folder; returns it."""
        self._refuse_output()
        class_names = self.model_folder.classes()
        features = PenultimateFeatures(feature_layer(self.network)) if self.model_folder.gate else None
        with (
            temporary_weights(self.network, self.model_folder.weights, self.device),
            features or contextlib.nullcontext(),
        ):
            logits, labels, caught = validation_outputs(self.network, self.loader, self.device, features)
        counts = {name: int((labels == i).sum()) for i, name in enumerate(class_names)}
        if len(labels) < self.min_images or min(counts.values()) < self.min_per_class:
            raise CXRError(
                f"{self.datalist}: its validation split has {len(labels)} images ({counts}); recalibration needs at "
                f"least {self.min_images}, and {self.min_per_class} of each class"
            )
        fit = fit_calibration(logits.numpy(), labels.numpy(), class_names, self.target_sensitivity, self.n_bootstrap)
        fit["model_sha256"] = self.model_folder.calibration.get("model_sha256") or file_sha256(
            self.model_folder.weights
        )
        fit["recalibration"] = {
            "datalist": str(self.datalist),
            "datalist_sha256": file_sha256(self.datalist),
            "split": "validation",
            "n_images": len(labels),
            "counts": counts,
            "date": datetime.date.today().isoformat(),
            "from": str(self.model_folder.path),
            "original": self.model_folder.calibration,
        }
        gate = None
        if features is not None:
            density, original = self.model_folder.gate_density()
            distances = density.distance(caught).numpy()
            q99 = float(np.quantile(distances, 0.99))
            gate = {
                **self.model_folder.gate,
                "threshold": ood_threshold(distances),
                "n_validation": len(distances),
                "validation_distance": {"q99": round(q99, 3), "max": round(float(distances.max()), 3)},
                "recalibration": {
                    "datalist": str(self.datalist),
                    "n_images": len(distances),
                    "original_threshold": original,
                },
            }
        return self._write(fit, gate)

    def _write(self, calibration: dict, gate: dict | None) -> Path:
        out = self.output_dir
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name[:100]}.", suffix=".tmp", dir=out.parent))
        os.chmod(tmp, NEW_FOLDER_MODE)  # mkdtemp makes 0700; the folder gets the mode any new folder gets
        try:
            for name in (MODEL_FILE, CLASSES_FILE, SETTINGS_FILE, *((GATE_FEATURES_FILE,) if gate else ())):
                if (self.model_folder.path / name).is_file():
                    shutil.copy2(self.model_folder.path / name, tmp / name)
            write_json(calibration, tmp / CALIBRATION_FILE)
            if gate is not None:
                write_json(gate, tmp / GATE_FILE)
            read_model_folder(tmp)  # complete and consistent before it gets its name
            note = (
                f"Recalibrated {calibration['recalibration']['date']} on {Path(self.datalist).name} "
                f"({calibration['recalibration']['n_images']} images) from {self.model_folder.path}; the weights and "
                "training data are the original model's."
            )
            write_model_card(tmp, CLS_BUNDLE, note=note)
            if out.exists():
                out.rmdir()  # an empty folder, checked above
            os.rename(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info(
            "recalibrated on %d images of %s: temperature %.3f (was %s), threshold %s (was %s); wrote %s",
            calibration["recalibration"]["n_images"],
            self.datalist,
            calibration["temperature"],
            self.model_folder.calibration.get("temperature"),
            calibration.get("threshold"),
            self.model_folder.calibration.get("threshold"),
            out,
        )
        return out
