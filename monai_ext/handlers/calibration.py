"""Fitting the temperature and operating threshold of the best model on validation, when training ends."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from monai_ext.bundle.model_folder import CALIBRATION_FILE, MODEL_FILE
from monai_ext.constants import CLS_BUNDLE, Keys
from monai_ext.errors import CXRError
from monai_ext.handlers.checkpoint import _unwrap
from monai_ext.handlers.model_card import write_model_card
from monai_ext.metrics.calibration import fit_calibration
from monai_ext.utils import NEW_FOLDER_MODE, file_sha256, write_json

__all__ = ["CalibrationFitter", "Recalibration", "best_weights", "validation_logits", "validation_outputs"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def best_weights(network: torch.nn.Module, weights: Path, device: str | torch.device) -> Iterator[None]:
    """``network`` with the weights of the file ``weights`` (the best model) for the block, in evaluation
    mode; its own weights and mode are put back after."""
    net = _unwrap(network)
    current = {k: v.detach().clone() for k, v in net.state_dict().items()}
    was_training = network.training
    net.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    network.eval()
    try:
        yield
    finally:
        net.load_state_dict(current)
        network.train(was_training)


@torch.no_grad()
def validation_outputs(
    network: torch.nn.Module, loader: Iterable, device: str | torch.device, features: Any = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(logits (N, C), labels (N,), features (N, d) or None)`` of ``network`` in evaluation mode over
    ``loader``'s batches; the features are the penultimate ones that ``features`` (a
    :class:`~monai_ext.gate.PenultimateFeatures`, hooked on the network) catches at each forward pass."""
    was_training = network.training
    network.eval()
    logits, labels, caught = [], [], []
    try:
        for batch in loader:
            logits.append(network(batch[Keys.IMAGE].to(device)).float().cpu())
            labels.append(torch.as_tensor(batch[Keys.LABEL]).long().view(-1))
            if features is not None:
                caught.append(features.last)
    finally:
        network.train(was_training)
    return torch.cat(logits), torch.cat(labels), torch.cat(caught) if caught else None


def validation_logits(
    network: torch.nn.Module, loader: Iterable, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits (N, C), labels (N,))`` of ``network`` in evaluation mode over ``loader``'s batches."""
    return validation_outputs(network, loader, device)[:2]


class CalibrationFitter:
    """When training completes: load the best model (``save_dir/model.pt``), compute its logits on the
    validation loader, fit a temperature and (binary models) an operating threshold with their
    bootstrap stability (:func:`~monai_ext.metrics.calibration.fit_calibration`), and save them as
    ``save_dir/calibration.json`` with the SHA-256 of the weights they belong to. The network's
    weights are put back afterwards. Attach it to the trainer after ``BestModelSaver``.

    Args:
        network: the trained network.
        loader: the validation data loader (never the test split).
        save_dir: the model folder.
        class_names: the classes, in label order (the last is the positive class of a binary model).
        device: where the network runs.
        target_sensitivity: None for Youden's J, else the most specific threshold reaching it.
        n_bootstrap: resamples of the validation images for the intervals of temperature and threshold.
        filename: the best model's file.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        loader: Iterable,
        save_dir: str | os.PathLike,
        class_names: Sequence[str],
        device: str | torch.device = "cpu",
        target_sensitivity: float | None = None,
        n_bootstrap: int = 200,
        filename: str = MODEL_FILE,
    ) -> None:
        self.network = network
        self.loader = loader
        self.save_dir = Path(save_dir)
        self.class_names = list(class_names)
        self.device = device
        self.target_sensitivity = target_sensitivity
        self.n_bootstrap = n_bootstrap
        self.filename = filename

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine | None = None) -> dict | None:
        weights = self.save_dir / self.filename
        if not weights.is_file():
            logger.warning("no %s: nothing to calibrate", weights)
            return None
        with best_weights(self.network, weights, self.device):
            logits, labels = validation_logits(self.network, self.loader, self.device)
        fit = fit_calibration(
            logits.numpy(), labels.numpy(), self.class_names, self.target_sensitivity, self.n_bootstrap
        )
        fit["model_sha256"] = file_sha256(weights)
        write_json(fit, self.save_dir / CALIBRATION_FILE)
        threshold = "argmax" if fit["threshold"] is None else f"{fit['threshold']:.3f} {fit['threshold_ci95']}"
        logger.info(
            "calibration on %d validation images: temperature %.3f %s, threshold %s; saved %s",
            fit["n_validation"],
            fit["temperature"],
            fit["temperature_ci95"],
            threshold,
            self.save_dir / CALIBRATION_FILE,
        )
        return fit


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
        model_folder: Any,
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
        self.model = model_folder
        self.output_dir = Path(output_dir)
        self.datalist = Path(datalist)
        self.device = device
        self.target_sensitivity = target_sensitivity
        self.min_images = min_images
        self.min_per_class = min_per_class
        self.n_bootstrap = n_bootstrap

    def _refuse_output(self) -> None:
        out = self.output_dir.resolve()
        if out == self.model.path.resolve() or out.is_relative_to(self.model.path.resolve()):
            raise CXRError(f"output_dir {self.output_dir} is the model folder {self.model.path} or inside it")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CXRError(
                f"output_dir {self.output_dir} is not empty: recalibration writes a new model folder and never "
                "replaces one; choose a new folder"
            )

    def run(self) -> Path:
        """Fit and write the new model folder; returns it."""
        from monai_ext.gate import PenultimateFeatures
        from monai_ext.handlers.gate import ood_threshold
        from monai_ext.networks.classifier import feature_layer

        self._refuse_output()
        class_names = self.model.classes()
        features = PenultimateFeatures(feature_layer(self.network)) if self.model.gate else None
        with best_weights(self.network, self.model.weights, self.device), features or contextlib.nullcontext():
            logits, labels, caught = validation_outputs(self.network, self.loader, self.device, features)
        counts = {name: int((labels == i).sum()) for i, name in enumerate(class_names)}
        if len(labels) < self.min_images or min(counts.values()) < self.min_per_class:
            raise CXRError(
                f"{self.datalist}: its validation split has {len(labels)} images ({counts}); recalibration needs at "
                f"least {self.min_images}, and {self.min_per_class} of each class"
            )
        fit = fit_calibration(logits.numpy(), labels.numpy(), class_names, self.target_sensitivity, self.n_bootstrap)
        fit["model_sha256"] = self.model.calibration.get("model_sha256") or file_sha256(self.model.weights)
        fit["recalibration"] = {
            "datalist": str(self.datalist),
            "datalist_sha256": file_sha256(self.datalist),
            "split": "validation",
            "n_images": len(labels),
            "counts": counts,
            "date": datetime.date.today().isoformat(),
            "from": str(self.model.path),
            "original": self.model.calibration,
        }
        gate = None
        if features is not None:
            density, original = self.model.gate_density()
            distances = density.distance(caught).numpy()
            q99 = float(np.quantile(distances, 0.99))
            gate = {
                **self.model.gate,
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
        from monai_ext.bundle.model_folder import (
            CLASSES_FILE,
            GATE_FEATURES_FILE,
            GATE_FILE,
            SETTINGS_FILE,
            read_model_folder,
        )

        out = self.output_dir
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name[:100]}.", suffix=".tmp", dir=out.parent))
        os.chmod(tmp, NEW_FOLDER_MODE)  # mkdtemp makes 0700; the folder gets the mode any new folder gets
        try:
            for name in (MODEL_FILE, CLASSES_FILE, SETTINGS_FILE, *((GATE_FEATURES_FILE,) if gate else ())):
                if (self.model.path / name).is_file():
                    shutil.copy2(self.model.path / name, tmp / name)
            write_json(calibration, tmp / CALIBRATION_FILE)
            if gate is not None:
                write_json(gate, tmp / GATE_FILE)
            read_model_folder(tmp)  # complete and consistent before it gets its name
            note = (
                f"Recalibrated {calibration['recalibration']['date']} on {Path(self.datalist).name} "
                f"({calibration['recalibration']['n_images']} images) from {self.model.path}; the weights and "
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
            self.model.calibration.get("temperature"),
            calibration.get("threshold"),
            self.model.calibration.get("threshold"),
            out,
        )
        return out
