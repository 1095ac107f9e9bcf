"""The input gate in the bundles' engines: its decision per image after the classifier, and its fitting when
training ends."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.data import DataLoader, Dataset

from monai_ext.constants import GATE_FEATURES_FILE, GATE_FILE, MODEL_FILE, Keys
from monai_ext.gate import OOD_MARGIN, FeatureDensity, InputGate, PenultimateFeatures, ood_threshold
from monai_ext.networks.classifier import feature_layer
from monai_ext.networks.weights import temporary_weights
from monai_ext.utils import atomic_path, file_sha256, write_json

__all__ = ["GateFitter", "InputGateHandler"]

logger = logging.getLogger(__name__)


class InputGateHandler:
    """The gate's decision on each image of an evaluator's batch, after the classifier: the checks the
    preprocessing made (:class:`~monai_ext.transforms.AssessInputd`), the segmenter's test-time
    disagreement, and the distance of the classifier's penultimate features (captured at the evaluator's
    own forward pass) to the training images'. Puts ``gate`` (``answer``, ``abstain`` or ``off``),
    ``abstain_reason`` and the scores into each item's output, where the prediction writer reads them.
    Attach it before the writers.

    Args:
        network: the evaluator's classifier.
        gate: the gate (``InputGate.from_model_folder``).
    """

    def __init__(self, network: torch.nn.Module, gate: InputGate) -> None:
        self.gate = gate
        self.features = None
        if gate.enabled and gate.density:
            try:
                self.features = PenultimateFeatures(feature_layer(network))
            except TypeError as e:  # a TorchScript export as network_def: its layers take no hooks
                logger.warning("the input gate's feature check is off: %s", e)

    def attach(self, engine: Engine) -> None:
        if self.features is not None:
            self.features.__enter__()  # the hook stays for the engine's runs
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        batch, outputs = engine.state.batch, engine.state.output
        features = self.features.last if self.features is not None else None
        distances = self.gate.ood_distances(features) if features is not None else [None] * len(outputs)
        for item, out, distance in zip(batch, outputs, distances):
            out.update(self.gate.decide_on({**item, **out}, distance).fields())


class GateFitter:
    """When training completes: the penultimate features of the best model (``save_dir/model.pt``) on the
    training images (their deterministic transforms, at most ``max_images`` of them), a density of them
    (:class:`~monai_ext.gate.FeatureDensity`), the distances of the validation images, and the threshold
    :data:`OOD_MARGIN` times their 99th percentile; saved as ``gate.json`` and ``gate_features.pt`` with
    the weights' SHA-256. Attach it after ``BestModelSaver``.

    Args:
        network: the trained network.
        train_data: the training items (paths, as the data list gives them).
        transform: their deterministic transforms (the validation preprocessing).
        loader: the validation data loader (never the test split).
        save_dir: the model folder.
        device: where the network runs.
        batch_size: images per forward pass.
        max_images: training images the density is fitted on at most (a seeded sample of them).
        n_components: principal components of the features kept.
        enabled: off, nothing is fitted (``gate`` False).
    """

    def __init__(
        self,
        network: torch.nn.Module,
        train_data: Sequence[dict],
        transform: Any,
        loader: Any,
        save_dir: str | os.PathLike,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        max_images: int = 2000,
        n_components: int = 64,
        enabled: bool = True,
    ) -> None:
        self.network = network
        self.train_data = list(train_data)
        self.transform = transform
        self.loader = loader
        self.save_dir = Path(save_dir)
        self.device = device
        self.batch_size = batch_size
        self.max_images = max_images
        self.n_components = n_components
        self.enabled = enabled

    def attach(self, engine: Engine) -> None:
        if self.enabled:
            engine.add_event_handler(Events.COMPLETED, self)

    def _batches(self, loader, labels: list) -> Any:
        for batch in loader:
            labels.append(torch.as_tensor(batch[Keys.LABEL]).long().view(-1))
            yield batch[Keys.IMAGE]

    def __call__(self, engine: Engine | None = None) -> dict | None:
        weights = self.save_dir / MODEL_FILE
        if not weights.is_file():
            logger.warning("no %s: no gate to fit", weights)
            return None
        try:
            layer = feature_layer(self.network)
        except TypeError as e:  # a network of another kind: the gate then has no feature check
            logger.warning("no input gate fitted: %s", e)
            return None
        rng = np.random.default_rng(0)
        data = self.train_data
        if len(data) > self.max_images:
            data = [data[i] for i in sorted(rng.choice(len(data), self.max_images, replace=False))]
        train_loader = DataLoader(Dataset(data, self.transform), batch_size=self.batch_size, num_workers=0)
        features = PenultimateFeatures(layer)
        with temporary_weights(self.network, weights, self.device):
            train_labels: list = []
            train_features = features.collect(self.network, self._batches(train_loader, train_labels), self.device)
            val_labels: list = []
            val_features = features.collect(self.network, self._batches(self.loader, val_labels), self.device)
        density = FeatureDensity.fit(train_features, torch.cat(train_labels), self.n_components)
        distances = density.distance(val_features).numpy()
        quantiles = {q: round(float(np.quantile(distances, q / 100)), 3) for q in (50, 95, 99)}
        threshold = ood_threshold(distances)
        with atomic_path(self.save_dir / GATE_FEATURES_FILE) as tmp:
            torch.save(density.state_dict(), tmp)
        record = {
            "method": "mahalanobis",
            "threshold": threshold,
            "rule": f"{OOD_MARGIN} x the 99th percentile of the validation images' distances",
            "n_components": int(density.state["components"].shape[1]),
            "n_train": len(train_features),
            "n_validation": len(distances),
            "validation_distance": {f"q{q}": v for q, v in quantiles.items()}
            | {"max": round(float(distances.max()), 3)},
            "features_sha256": file_sha256(self.save_dir / GATE_FEATURES_FILE),
            "model_sha256": file_sha256(weights),
        }
        write_json(record, self.save_dir / GATE_FILE)
        logger.info(
            "input gate fitted on %d training images: validation distances median %.1f, 99th percentile %.1f; "
            "threshold %.1f; saved %s",
            record["n_train"],
            quantiles[50],
            quantiles[99],
            threshold,
            self.save_dir / GATE_FILE,
        )
        return record
