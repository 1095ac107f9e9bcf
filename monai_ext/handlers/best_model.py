"""The best model by the validation key metric, ``models/model.pt``, written only after the resume checkpoint
that records it: its best score and epoch are part of the resume state, so that the first validation
after a resume does not always "beat" a best that lived only in memory."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, EventEnum, Events
from ignite.handlers.checkpoint import CheckpointEvents

from monai_ext.constants import MODEL_FILE
from monai_ext.handlers.checkpoint_files import remove_stale_temporaries
from monai_ext.metrics.intervals import bootstrap_mean
from monai_ext.networks.weights import unwrap
from monai_ext.utils import atomic_path

__all__ = ["BestModelEvents", "BestModelSaver", "register_best_model_events"]


logger = logging.getLogger(__name__)


class BestModelEvents(EventEnum):
    """The trainer's event of :class:`BestModelSaver`."""

    SAVED = "best_model_saved"  #: a new best model file is complete on disk


def register_best_model_events(engine: Engine) -> None:
    """Let ``engine`` fire :class:`BestModelEvents` (once; the saver and its listeners both ask)."""
    if not engine.has_registered_events(BestModelEvents.SAVED):
        engine.register_events(*BestModelEvents)


class BestModelSaver:
    """Save the network to ``save_dir/filename`` whenever the validator's key metric beats the best so far.

    Attached to the trainer after its ``ValidationHandler``. A new best is recorded at the epoch's end
    and written once the trainer's resume checkpoint of that epoch is complete (ignite's
    ``SAVED_CHECKPOINT`` event), so the file always matches a resume state: a process killed in
    between resumes from a checkpoint that names this epoch as the best, and the file is written again
    from its weights. The best score and its epoch are this handler's ``state_dict``: put the handler in
    the resume checkpoint and a resumed run replaces the file only with a better model. Each time the
    file is written the trainer fires :attr:`BestModelEvents.SAVED` (what describes the model beside it,
    :class:`~monai_ext.handlers.ModelSettingsWriter`, is written then).

    Args:
        save_dir: the folder of the best model (the bundle's ``models``).
        network: the network whose weights are saved (a plain ``state_dict``, DDP unwrapped).
        validator: the evaluator whose metrics are read.
        metric_name: the metric compared (default: the validator's key metric).
        filename: the file written.
        wait_for_checkpoint: write at ``SAVED_CHECKPOINT`` (True, with a resume saver on the trainer)
            or at once after validation (False).
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        network: torch.nn.Module,
        validator: Engine,
        metric_name: str | None = None,
        filename: str = MODEL_FILE,
        wait_for_checkpoint: bool = True,
    ) -> None:
        self.path = Path(save_dir) / filename
        self.network = network
        self.validator = validator
        self.metric_name = metric_name
        self.wait_for_checkpoint = wait_for_checkpoint
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.best_validation: dict[str, Any] | None = None
        self._pending = False

    def attach(self, engine: Engine) -> None:
        for path in remove_stale_temporaries(self.path.parent):
            engine.logger.info("removed %s, left by an interrupted save", path)
        if not engine.has_registered_events(CheckpointEvents.SAVED_CHECKPOINT):
            engine.register_events(*CheckpointEvents)
        register_best_model_events(engine)
        engine.add_event_handler(Events.STARTED, self.restore)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.update)
        if self.wait_for_checkpoint:
            engine.add_event_handler(CheckpointEvents.SAVED_CHECKPOINT, self.commit)
        engine.add_event_handler(Events.COMPLETED, self.commit)

    @property
    def _metric(self) -> str:
        return self.metric_name or self.validator.state.key_metric_name

    def update(self, engine: Engine) -> None:
        """Record a new best when this epoch's validation beat the best so far (strictly)."""
        metrics = self.validator.state.metrics
        if self.validator.state.epoch != engine.state.epoch or self._metric not in metrics:
            return  # no validation this epoch
        score = float(metrics[self._metric])
        if self.best_score is not None and score <= self.best_score:
            return
        engine.logger.info(
            "new best %s %.4f at epoch %d (was %s)",
            self._metric,
            score,
            engine.state.epoch,
            "none" if self.best_score is None else f"{self.best_score:.4f} at epoch {self.best_epoch}",
        )
        self.best_score, self.best_epoch = score, engine.state.epoch
        self.best_validation = self._validation(score, engine.state.epoch)
        self._sync_validator()
        self._pending = True
        if not self.wait_for_checkpoint:
            self.commit(engine)

    def commit(self, engine: Engine | None = None) -> None:
        """Write the recorded best model, if it is not written yet."""
        if not self._pending:
            return
        with atomic_path(self.path, durable=True) as tmp:
            self._write(tmp)
        self._pending = False
        logger.info("saved %s (%s %.4f, epoch %d)", self.path, self._metric, self.best_score, self.best_epoch)
        if engine is not None:
            engine.fire_event(BestModelEvents.SAVED)

    def _validation(self, score: float, epoch: int) -> dict[str, Any]:
        """The best epoch's validation figure; with its 95% bootstrap interval over the validation items
        when the metric keeps per-item values (MONAI's ``MeanDice`` does: ``metric_details``)."""
        out: dict[str, Any] = {"metric": self._metric, "value": score, "epoch": epoch}
        details = getattr(self.validator.state, "metric_details", {}).get(self._metric)
        if details is not None:
            per_item = torch.as_tensor(details).float().reshape(len(details), -1).nanmean(dim=1).cpu().numpy()
            per_item = per_item[np.isfinite(per_item)]
            if len(per_item):
                figure = bootstrap_mean(per_item)
                out.update(ci95=figure["ci95"], n=figure["n"])
        return out

    def _write(self, tmp: Path) -> None:
        torch.save(unwrap(self.network).state_dict(), tmp)

    def restore(self, engine: Engine) -> None:
        """After a resume: the checkpoint's epoch was the best one, so its weights are the best model."""
        if self.best_epoch is not None and self.best_epoch == engine.state.epoch:
            self._pending = True
            self.commit(engine)

    def _sync_validator(self) -> None:
        # MONAI's evaluator keeps its own best for its log lines; keep it equal after a resume
        self.validator.state.best_metric = self.best_score
        self.validator.state.best_metric_epoch = self.best_epoch

    def state_dict(self) -> OrderedDict:
        return OrderedDict(
            metric=self._metric or "", score=self.best_score, epoch=self.best_epoch, validation=self.best_validation
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best_score = None if state.get("score") is None else float(state["score"])
        self.best_epoch = None if state.get("epoch") is None else int(state["epoch"])
        self.best_validation = state.get("validation")
        self._pending = False
        if self.best_score is not None:
            self._sync_validator()
