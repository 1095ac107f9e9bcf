"""A new site's class prior from its own unlabelled images, and the model's probabilities at it
(Saerens, Latinne and Decaestecker 2002): ``configs/prior_shift.json``, run over the bundle's inference."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from monai_ext.constants import PRIOR_SHIFT_FILE, PRIOR_SHIFT_PREDICTIONS_FILE, Keys
from monai_ext.errors import CXRError
from monai_ext.gate import ABSTAIN
from monai_ext.handlers.classification_writer import prob_column
from monai_ext.metrics.calibration import adjust_to_prior, em_prior
from monai_ext.metrics.intervals import bootstrap_indices, percentile_interval
from monai_ext.utils import file_sha256, read_csv, write_csv, write_json

__all__ = ["MIN_PRIOR_SHIFT_IMAGES", "PriorShift"]

logger = logging.getLogger(__name__)

#: the fewest images the gate answered on that a prior is estimated from
MIN_PRIOR_SHIFT_IMAGES = 20


class PriorShift:
    """Estimate the class prior of a site from the inference's ``predictions.csv`` on its unlabelled
    images (:func:`~monai_ext.metrics.calibration.em_prior`), and write what the probabilities read there.

    Only the images the input gate answered on count: an abstained image's probability is no statement
    about a chest radiograph. The model's likelihoods are assumed to hold at the site (its classes occur
    at other frequencies; each looks as it did): a site whose images differ in kind needs
    ``recalibrate`` on labelled ones instead. The model folder is not changed and the decisions keep
    their validated operating threshold; the estimate and the adjusted probabilities are for reading (a
    prevalence that moves, a probability that means what it says at this site).

    Writes into ``output_dir``: :data:`PRIOR_SHIFT_FILE` (the calibrated prior, the site's estimate with
    its 95% percentile interval over resamples of the images, the number of images used and left out,
    the iterations, the predictions file with its SHA-256, the date) and :data:`PRIOR_SHIFT_PREDICTIONS_FILE`
    (per image the probabilities before and at the site's prior).

    Args:
        predictions: the inference's ``predictions.csv``.
        class_names: the model's classes in label order.
        prior: the class frequencies the probabilities were calibrated at, by class name
            (:meth:`~monai_ext.bundle.model_folder.ModelFolder.calibrated_prior`).
        output_dir: where the two files go (the inference's output folder).
        min_images: the fewest answered images accepted.
        n_bootstrap: resamples of the images for the estimate's interval.
        seed: the resampling's seed.
    """

    def __init__(
        self,
        predictions: str | os.PathLike,
        class_names: Sequence[str],
        prior: Mapping[str, float],
        output_dir: str | os.PathLike,
        min_images: int = MIN_PRIOR_SHIFT_IMAGES,
        n_bootstrap: int = 200,
        seed: int = 0,
    ) -> None:
        self.predictions = Path(predictions)
        self.class_names = list(class_names)
        if set(prior) != set(self.class_names):
            raise CXRError(f"the calibrated prior {dict(prior)} does not name the model's classes {self.class_names}")
        self.prior = np.array([prior[c] for c in self.class_names], dtype=np.float64)
        self.output_dir = Path(output_dir)
        self.min_images = min_images
        self.n_bootstrap = n_bootstrap
        self.seed = seed

    def _answered(self) -> tuple[list[dict[str, str]], np.ndarray, int]:
        rows = read_csv(self.predictions)
        columns = [prob_column(c) for c in self.class_names]
        if rows and not set(columns) <= set(rows[0]):
            raise CXRError(f"{self.predictions}: no columns {columns}: not the predictions of this model")
        used = [r for r in rows if r.get("gate") != ABSTAIN and all(r.get(c) for c in columns)]
        if len(used) < self.min_images:
            raise CXRError(
                f"{self.predictions}: {len(used)} images the gate answered on (of {len(rows)}); a prior is "
                f"estimated from at least {self.min_images}"
            )
        return used, np.array([[float(r[c]) for c in columns] for r in used]), len(rows) - len(used)

    def run(self) -> Path:
        """Estimate and write; returns the path of :data:`PRIOR_SHIFT_FILE`."""
        rows, probs, left_out = self._answered()
        estimate, iterations = em_prior(probs, self.prior)
        boot = [
            em_prior(probs[idx], self.prior)[0] for idx in bootstrap_indices(len(probs), self.n_bootstrap, self.seed)
        ]
        adjusted = adjust_to_prior(probs, self.prior, estimate)
        record = {
            "method": "Saerens, Latinne and Decaestecker 2002: EM on the predicted probabilities",
            "calibrated_prior": dict(zip(self.class_names, self.prior.round(4).tolist())),
            "site_prior": dict(zip(self.class_names, estimate.round(4).tolist())),
            "site_prior_ci95": {
                c: percentile_interval([float(b[i]) for b in boot]) for i, c in enumerate(self.class_names)
            },
            "n_images": len(rows),
            "n_left_out": left_out,
            "iterations": iterations,
            "bootstrap": self.n_bootstrap,
            "predictions": str(self.predictions),
            "predictions_sha256": file_sha256(self.predictions),
            "date": datetime.date.today().isoformat(),
        }
        before = [prob_column(c) for c in self.class_names]
        at_site = [f"{column}_at_site" for column in before]
        write_csv(
            [
                {Keys.NAME: r[Keys.NAME], **{c: r[c] for c in before}}
                | {c: round(float(p), 6) for c, p in zip(at_site, row)}
                for r, row in zip(rows, adjusted)
            ],
            self.output_dir / PRIOR_SHIFT_PREDICTIONS_FILE,
            [Keys.NAME, *before, *at_site],
        )
        write_json(record, self.output_dir / PRIOR_SHIFT_FILE)
        logger.info(
            "prior at the site from %d images (%d left out): %s (calibrated at %s); wrote %s",
            len(rows),
            left_out,
            record["site_prior"],
            record["calibrated_prior"],
            self.output_dir / PRIOR_SHIFT_FILE,
        )
        return self.output_dir / PRIOR_SHIFT_FILE
