"""Fitting the temperature and operating threshold of the best model on validation, when training ends."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from monai_ext.constants import CALIBRATION_FILE, MODEL_FILE
from monai_ext.metrics.calibration import fit_calibration
from monai_ext.networks.weights import temporary_weights, validation_outputs
from monai_ext.utils import file_sha256, write_json

__all__ = ["CalibrationFitter"]

logger = logging.getLogger(__name__)


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
        with temporary_weights(self.network, weights, self.device):
            logits, labels, _ = validation_outputs(self.network, self.loader, self.device)
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
