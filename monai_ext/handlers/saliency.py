"""Grad-CAM maps of a classifier's decisions, and how much of each lies inside the lungs."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine
from torch import nn

from monai_ext.constants import SALIENCY_FILE, SALIENCY_SUMMARY_FILE, Keys
from monai_ext.data.image_writer import mask_name_for, write_png
from monai_ext.data.paths import number_apart, output_names
from monai_ext.handlers.outputs import RowWriter, item_label, item_name
from monai_ext.metrics.intervals import bootstrap_mean
from monai_ext.utils import write_csv, write_json
from monai_ext.visualize import ClassSaliency, lung_shares, saliency_overlay

__all__ = ["SALIENCY_DIR", "SaliencyWriter"]

logger = logging.getLogger(__name__)

#: the folder of the overlay PNGs inside a run's output folder
SALIENCY_DIR = "saliency"


class SaliencyWriter(RowWriter):
    """Grad-CAM (MONAI's :class:`monai.visualize.GradCAM`) of each image's predicted class, written as
    an overlay PNG under ``output_dir/saliency/`` (named as the input, as masks are, collisions named
    apart: ``test/a.dcm`` -> ``test/a.png``, but ``x.png`` and ``x.dcm`` -> ``x.png.png`` and ``x.dcm.png``,
    :func:`~monai_ext.data.output_names`), with the share of the map inside the image's lung mask.

    ``saliency.csv`` has a row per image: name, the class explained, ``in_lung`` (the map's share inside
    the lungs), ``lung_area`` (the lungs' share of the image: what an evenly spread map would score) and
    the overlay's path; ``saliency.json`` has their means with 95% bootstrap intervals, overall and per
    true class (``n_measured``: the images with a mask and a map that is not zero everywhere; a map is zero
    where no part of the layer argues for the class), and ``grid``, the layer's map size (a 64 px input
    gives ResNet50 2 x 2 cells: too coarse to tell the lungs from the rest). The lung mask is the item's
    ``lung`` on the network input's grid (as
    :class:`~monai_ext.transforms.ApplyLungMaskd` leaves it, resized with the image); an item without one
    gets a map and no fraction.

    The engine's postprocessing must leave class probabilities in ``pred`` (the class explained is their
    argmax). Maps are computed in float32 after the evaluator's own forward pass (one more forward and a
    backward per batch).

    Args:
        network: the evaluator's classifier (a :class:`~monai_ext.networks.TorchVisionClassifier`, wrapped or not).
        output_dir: the run's output folder.
        enabled: off, the handler attaches nothing (a bundle's ``saliency`` setting).
        target_layer: the layer Grad-CAM weighs; default: the backbone's in
            :data:`~monai_ext.networks.BACKBONES`.
        class_names: names of the classes, for the CSV; default: their indices.
        n_bootstrap: bootstrap resamples of the intervals.
        overlays: write the overlay PNGs (the fractions are computed either way).
    """

    def __init__(
        self,
        network: nn.Module,
        output_dir: str | os.PathLike,
        enabled: bool = True,
        target_layer: str | None = None,
        class_names: list[str] | None = None,
        n_bootstrap: int = 1000,
        overlays: bool = True,
    ) -> None:
        super().__init__()
        self.network = network
        self.output_dir = Path(output_dir)
        self.enabled = bool(enabled)
        self.class_names = class_names
        self.n_bootstrap = n_bootstrap
        self.overlays = overlays
        self.saliency = ClassSaliency(network, target_layer) if self.enabled else None
        self.target_layer = self.saliency.target_layer if self.saliency else target_layer
        self._names: dict[str, str] = {}
        self._taken: set[str] = set()

    def attach(self, engine: Engine) -> None:
        if self.enabled:
            super().attach(engine)

    def start(self, engine: Engine) -> None:
        """Name the overlays of every input of the run at once, so that no two share a file."""
        super().start(engine)
        data = getattr(getattr(getattr(engine, "data_loader", None), "dataset", None), "data", None) or []
        self._names = output_names(str(d[Keys.NAME]) for d in data if isinstance(d, dict) and d.get(Keys.NAME))
        self._taken = set(self._names.values())

    def _overlay_name(self, name: str) -> str:
        """The overlay's file under ``saliency/``: the run's collision-free name, else (an input the run's
        dataset did not list) the simple name, numbered apart when taken."""
        if name in self._names:
            return self._names[name]
        out = number_apart(mask_name_for(name), self._taken)
        self._names[name] = out
        self._taken.add(out)
        return out

    def collect(self, engine: Engine) -> None:
        outputs, batch = engine.state.output, engine.state.batch
        images = torch.stack([torch.as_tensor(item[Keys.IMAGE]).as_subclass(torch.Tensor) for item in batch])
        classes = torch.stack([torch.as_tensor(o[Keys.PRED]).float().flatten().argmax() for o in outputs]).cpu()
        for item, saliency, c in zip(batch, self.saliency(images, classes), classes.tolist()):
            image, name = item[Keys.IMAGE], item_name(item, default="image")
            mask = item.get(Keys.LUNG)
            if mask is not None and tuple(mask.shape) != tuple(saliency.shape):
                logger.warning(
                    "%s: lung mask %s is not on the input's grid %s", name, tuple(mask.shape), tuple(saliency.shape)
                )
                mask = None
            row: dict[str, Any] = {
                Keys.NAME: str(name),
                "explained": self.class_names[c] if self.class_names else c,
                **lung_shares(saliency, mask),
                "map": "",
            }
            if (label := item_label(item)) is not None:
                row[Keys.LABEL] = label
            if self.overlays:
                rel = Path(SALIENCY_DIR) / self._overlay_name(str(name))
                try:
                    write_png(saliency_overlay(torch.as_tensor(image), saliency, mask), self.output_dir / rel)
                    row["map"] = str(rel)
                except OSError as e:  # the row stays, without its picture
                    logger.warning("%s: saliency overlay not written (%s)", name, e.strerror or e)
            self.rows.append(row)

    def summary(self) -> dict[str, Any]:
        """Mean in-lung share and lung area with their intervals, overall and per true class."""

        def means(rows: list[dict[str, Any]]) -> dict[str, Any]:
            measured = [r for r in rows if not math.isnan(r["in_lung"])]
            return {
                key: bootstrap_mean(np.array([r[key] for r in measured]), self.n_bootstrap) if measured else None
                for key in ("in_lung", "lung_area")
            } | {"n": len(rows), "n_measured": len(measured)}

        out = {"method": "Grad-CAM", "target_layer": self.target_layer, "explained": "predicted class"}
        out["grid"] = list(self.saliency.grid) if self.saliency else []
        out["overall"] = means(self.rows)
        labels = sorted({r[Keys.LABEL] for r in self.rows if Keys.LABEL in r})
        if labels:
            out["per_class"] = {
                (self.class_names[k] if self.class_names else str(k)): means(
                    [r for r in self.rows if r.get(Keys.LABEL) == k]
                )
                for k in labels
            }
        return out

    def write(self, engine: Engine | None = None) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        rows = [
            [
                r[Keys.NAME],
                r["explained"],
                *("" if math.isnan(r[k]) else f"{r[k]:.4f}" for k in ("in_lung", "lung_area")),
                r["map"],
            ]
            for r in self.rows
        ]
        write_csv(rows, self.output_dir / SALIENCY_FILE, [Keys.NAME, "explained", "in_lung", "lung_area", "map"])
        write_json(self.summary(), self.output_dir / SALIENCY_SUMMARY_FILE)
