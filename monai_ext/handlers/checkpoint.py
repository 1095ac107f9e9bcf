"""Checkpoints that survive faults: a complete file is always on disk, and resuming restores the whole state.

MONAI's ``CheckpointSaver`` and ignite's ``Checkpoint`` leave gaps a killed process falls into: ignite
deletes the file it replaces before writing the new one (``n_saved`` pruning), the best score lives
only in memory (so the first validation after a resume always "beats" it), and a resume checkpoint
written by another network or other settings is loaded until a state-dict error hundreds of keys
long. The handlers here close them:

- :class:`AtomicDiskSaver`: temporary name, ``fsync``, rename; what it replaces is removed only after.
- :class:`AtomicCheckpointSaver`: MONAI's saver on that disk saver, pruning the resume checkpoints
  of earlier processes once a newer one is complete.
- :class:`BestModelSaver`: ``models/model.pt`` by the validation key metric, its best score and epoch
  part of the resume state, written only after the resume checkpoint that records it.
- :class:`ResumableEarlyStopHandler`: early stopping whose patience counter resumes too.
- :class:`RunRecord` + :class:`LatestCheckpointLoader`: a resume checkpoint names the run that wrote it,
  and one of another run is refused with one line that says what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers.checkpoint import BaseSaveHandler, CheckpointEvents
from monai.handlers import CheckpointLoader, CheckpointSaver, EarlyStopHandler

from monai_ext.bundle.model_folder import MODEL_FILE, write_class_names, write_model_settings
from monai_ext.errors import CXRError, SettingError
from monai_ext.metrics.intervals import bootstrap_mean
from monai_ext.utils import TEMPORARY_GLOB, atomic_path, file_sha256

__all__ = [
    "AtomicCheckpointSaver",
    "AtomicDiskSaver",
    "BestModelSaver",
    "LatestCheckpointLoader",
    "ResumableEarlyStopHandler",
    "ResumeMismatchError",
    "RunRecord",
    "latest_checkpoint",
]

logger = logging.getLogger(__name__)

_EPOCH = re.compile(r"epoch=(\d+)\.pt$")


class ResumeMismatchError(CXRError):
    """A resume checkpoint was written by another network or other settings than this run's."""


def _unwrap(network: torch.nn.Module) -> torch.nn.Module:
    return (
        network.module
        if isinstance(network, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel))
        else network
    )


class AtomicDiskSaver(BaseSaveHandler):
    """An ignite save handler that never leaves a gap: each file is written to a temporary name, flushed
    to disk and renamed onto its name; a file ignite asks to remove goes only after that.

    Args:
        dirname: the folder of the files.
        filename: a fixed file name for every save (``model.pt``), or None for ignite's names.
        save_on_rank: the rank that writes (the others do nothing).
    """

    def __init__(self, dirname: str | os.PathLike, filename: str | None = None, save_on_rank: int = 0) -> None:
        self.dirname = Path(dirname)
        self.filename = filename
        self.save_on_rank = save_on_rank
        self._pending: list[str] = []

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        if idist.get_rank() != self.save_on_rank:
            return
        filename = self.filename or filename
        with atomic_path(self.dirname / filename, durable=True) as tmp:
            self._write(checkpoint, tmp)
        self._prune(keep=filename)

    def _write(self, checkpoint: Mapping, tmp: Path) -> None:
        torch.save(checkpoint, tmp)

    def remove(self, filename: str) -> None:
        """Called by ignite *before* it saves the next file: only noted here, done by :meth:`_prune`."""
        self._pending.append(self.filename or filename)

    def _prune(self, keep: str) -> None:
        for name in self._pending:
            if name != keep:  # a fixed name was just replaced by the rename: nothing to remove
                (self.dirname / name).unlink(missing_ok=True)
        self._pending.clear()


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``folder``; return them."""
    stale = sorted(Path(folder).glob(TEMPORARY_GLOB)) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class AtomicCheckpointSaver(CheckpointSaver):
    """MONAI's :class:`CheckpointSaver` on :class:`AtomicDiskSaver`: an interrupted save never leaves a
    truncated file nor removes the previous one first. Interval checkpoints (``*epoch=N.pt``) left by
    an earlier process are deleted once this one has written a newer one, and temporary files of an
    interrupted save are deleted at start.

    Args:
        engine_key: when set, the engine this handler is attached to is saved under this key too
            (``"trainer"`` for a resume checkpoint): a config cannot name the trainer inside the
            trainer's own handler list without a circular reference.
        args, kwargs: as :class:`monai.handlers.CheckpointSaver`.
    """

    def __init__(self, *args, engine_key: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.engine_key = engine_key
        for name in ("_final_checkpoint", "_key_metric_checkpoint", "_interval_checkpoint"):
            checkpoint = getattr(self, name, None)
            if checkpoint is not None:
                checkpoint.save_handler = AtomicDiskSaver(
                    self.save_dir, getattr(checkpoint.save_handler, "filename", None)
                )

    def attach(self, engine: Engine) -> None:
        if self.engine_key:
            self.save_dict[self.engine_key] = engine  # the Checkpoint objects share this dict
        for path in remove_stale_temporaries(self.save_dir):
            engine.logger.info("removed %s, left by an interrupted save", path)
        super().attach(engine)

    def interval_completed(self, engine: Engine) -> None:
        super().interval_completed(engine)
        kept = {item.filename for item in self._interval_checkpoint._saved}
        for _, path in epoch_checkpoints(self.save_dir):
            if path.name not in kept and idist.get_rank() == 0:
                path.unlink(missing_ok=True)
                engine.logger.info("removed %s, an older resume checkpoint", path)


class BestModelSaver:
    """Save the network to ``save_dir/filename`` whenever the validator's key metric beats the best so far.

    Attached to the trainer after its ``ValidationHandler``. A new best is recorded at the epoch's end
    and written once the trainer's resume checkpoint of that epoch is complete (ignite's
    ``SAVED_CHECKPOINT`` event), so the file always matches a resume state: a process killed in
    between resumes from a checkpoint that names this epoch as the best, and the file is written again
    from its weights. The best score and its epoch are this handler's ``state_dict``: put the handler in
    the resume checkpoint and a resumed run replaces the file only with a better model.

    Args:
        save_dir: the folder of the best model (the bundle's ``models``).
        network: the network whose weights are saved (a plain ``state_dict``, DDP unwrapped).
        validator: the evaluator whose metrics are read.
        metric_name: the metric compared (default: the validator's key metric).
        filename: the file written.
        class_names: when given, saved beside the weights (``classes.json``) with each new best model.
        run_record: when given, its bundle and settings are saved beside the weights (``settings.json``,
            :mod:`monai_ext.bundle.model_folder`), with the weights' SHA-256, with each new best model: the
            model folder says how to use it, and which weights it describes.
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
        class_names: Sequence[str] | None = None,
        run_record: RunRecord | None = None,
        wait_for_checkpoint: bool = True,
    ) -> None:
        self.path = Path(save_dir) / filename
        self.class_names = None if class_names is None else list(class_names)
        self.run_record = run_record
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
        if self.class_names is not None:
            write_class_names(self.class_names, self.path.parent)
        if self.run_record is not None:
            settings = {**self.run_record.model_settings(), "model_sha256": file_sha256(self.path)}
            if self.best_validation is not None:
                settings["validation"] = self.best_validation
            write_model_settings(settings, self.path.parent)
        self._pending = False
        logger.info("saved %s (%s %.4f, epoch %d)", self.path, self._metric, self.best_score, self.best_epoch)

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
        torch.save(_unwrap(self.network).state_dict(), tmp)

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


class ResumableEarlyStopHandler(EarlyStopHandler):
    """MONAI's :class:`EarlyStopHandler` whose patience counter and best score are part of the resume
    state (ignite's ``EarlyStopping`` is stateful; MONAI's wrapper did not pass it on)."""

    def state_dict(self) -> OrderedDict:
        if self._handler is None:
            raise RuntimeError("set the trainer (set_trainer) before saving the early-stopping state")
        state = self._handler.state_dict()
        if state.get("best_score") is not None:  # numpy scalars would not load with torch.load(weights_only=True)
            state["best_score"] = float(state["best_score"])
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self._handler is None:
            raise RuntimeError("set the trainer (set_trainer) before loading the early-stopping state")
        self._handler.load_state_dict(state)


class RunRecord:
    """What a resume checkpoint was written by: the bundle, the network (class, parameter count and a
    digest of its parameter names and shapes) and the settings a resumed run must share.

    Put it in the resume state (``"run"``); :class:`LatestCheckpointLoader` compares it before loading.

    Args:
        bundle: the bundle's name.
        network: the network trained.
        settings: values that define the run (image size, backbone, input mode, classes ...).
    """

    def __init__(self, bundle: str, network: torch.nn.Module, settings: Mapping[str, Any] | None = None) -> None:
        net = _unwrap(network)
        shapes = [(name, tuple(p.shape)) for name, p in net.state_dict().items()]
        self.record = OrderedDict(
            bundle=bundle,
            network=type(net).__name__,
            parameters=int(sum(p.numel() for p in net.parameters())),
            shapes_digest=hashlib.sha256(repr(shapes).encode()).hexdigest()[:16],
            settings={k: (list(v) if isinstance(v, tuple) else v) for k, v in (settings or {}).items()},
        )

    def model_settings(self) -> dict[str, Any]:
        """The bundle and the settings, as a model folder keeps them (``settings.json``)."""
        return {"bundle": self.record["bundle"], **self.record["settings"]}

    def describe(self, record: Mapping[str, Any] | None = None) -> str:
        r = self.record if record is None else record
        settings = ", ".join(f"{k} {v}" for k, v in r.get("settings", {}).items())
        return f"{r.get('bundle')} ({r.get('network')}, {r.get('parameters'):,} parameters{', ' + settings if settings else ''})"

    def state_dict(self) -> OrderedDict:
        return OrderedDict(self.record)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: :class:`LatestCheckpointLoader` compared the records before loading."""


def epoch_checkpoints(checkpoint_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every interval checkpoint (``*epoch=N.pt``) in ``checkpoint_dir``, oldest first;
    temporary files of an interrupted save are not among them."""
    found = [
        (int(m.group(1)), p)
        for p in Path(checkpoint_dir).glob("*epoch=*.pt")
        if not p.name.startswith(".") and (m := _EPOCH.search(p.name))
    ]
    return sorted(found)


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The interval checkpoint (``*epoch=N.pt``) with the highest epoch in ``checkpoint_dir``, or None."""
    found = epoch_checkpoints(checkpoint_dir)
    return found[-1][1] if found else None


def _contents(checkpoint: Any) -> str:
    if not isinstance(checkpoint, Mapping):
        return f"a {type(checkpoint).__name__}, not a resume checkpoint"
    tensors = sum(1 for v in checkpoint.values() if isinstance(v, torch.Tensor))
    if tensors:
        return f"a bare state dict of {tensors} tensors, not a resume checkpoint"
    return f"a checkpoint without a run record (keys: {', '.join(map(str, checkpoint))})"


class LatestCheckpointLoader(CheckpointLoader):
    """Resume a trainer: load the newest ``*epoch=N.pt`` of ``checkpoint_dir`` at start, if there is one.

    Without a checkpoint it logs that training starts fresh and does nothing, so the same config
    serves the first run and every resumed one. With ``run_record`` the checkpoint must hold an equal
    record (same bundle, network and settings); otherwise a :class:`ResumeMismatchError` names the
    file, what it holds, and the two ways on: another ``output_dir``, or ``resume=False``. With
    ``resume=False`` nothing is loaded; the old resume checkpoints are replaced as training saves new ones.

    Args:
        checkpoint_dir: the folder of the resume checkpoints (the bundle's ``output_dir``).
        load_dict: the objects to restore (the same dict the resume saver writes).
        map_location: where tensors are loaded.
        engine_key: the key under which the engine it is attached to is restored
            (see :class:`AtomicCheckpointSaver`).
        run_record: this run's :class:`RunRecord`, compared with the checkpoint's ``run``.
        resume: False to start fresh whatever the folder holds.
        kwargs: as :class:`monai.handlers.CheckpointLoader`.
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike,
        load_dict: dict,
        map_location=None,
        engine_key: str | None = "trainer",
        run_record: RunRecord | None = None,
        resume: bool = True,
        **kwargs,
    ) -> None:
        if not isinstance(resume, bool):
            raise SettingError(f"resume must be True or False, got {resume!r} (on the command line: --resume False)")
        self.checkpoint_dir = Path(checkpoint_dir)
        self.engine_key = engine_key
        self.run_record = run_record
        self.resume = resume
        super().__init__(
            load_path=str(self.checkpoint_dir / "none"), load_dict=load_dict, map_location=map_location, **kwargs
        )

    def attach(self, engine: Engine) -> None:
        if self.engine_key:
            self.load_dict[self.engine_key] = engine
        path = latest_checkpoint(self.checkpoint_dir)
        if path is None:
            engine.logger.info("no checkpoint in %s: training starts fresh", self.checkpoint_dir)
            return
        if not self.resume:
            engine.logger.info(
                "resume is off: training starts fresh; %s and older resume checkpoints will be replaced", path
            )
            return
        if self.run_record is not None:
            self.check(path)
        engine.logger.info("resuming from %s", path)
        self.load_path = str(path)
        super().attach(engine)

    def check(self, path: Path) -> None:
        """Refuse a checkpoint whose run record differs from this run's (or that has none)."""
        try:  # memory-mapped: the record is read, the tensors stay on disk until the loader's own load
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:  # noqa: BLE001 - a file torch cannot read is not this run's checkpoint either
            theirs = f"a file torch cannot load ({type(e).__name__})"
        else:
            record = checkpoint.get("run") if isinstance(checkpoint, Mapping) else None
            if record is not None and dict(record) == dict(self.run_record.record):
                return
            theirs = self.run_record.describe(record) if isinstance(record, Mapping) else _contents(checkpoint)
        raise ResumeMismatchError(
            f"{path}: this resume checkpoint is not this run's: it holds {theirs}, this run is "
            f"{self.run_record.describe()}. Give another --output_dir, or pass --resume False to start fresh "
            "(the resume checkpoints there are then replaced)"
        )
