"""Resume a trainer from the newest resume checkpoint, refusing one another run wrote.

A resume checkpoint of another network or other settings would load until a state-dict error hundreds of
keys long; :class:`LatestCheckpointLoader` compares the checkpoint"s :class:`~monai_ext.handlers.RunRecord`
first and refuses with one line that says what to do."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine
from monai.handlers import CheckpointLoader

from monai_ext.errors import CXRError, SettingError
from monai_ext.handlers.checkpoint_files import latest_checkpoint
from monai_ext.handlers.run_record import RunRecord

__all__ = ["LatestCheckpointLoader", "ResumeMismatchError"]


class ResumeMismatchError(CXRError):
    """A resume checkpoint was written by another network or other settings than this run's."""


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
