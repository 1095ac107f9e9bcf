"""Resume checkpoints that survive faults: a complete file is always on disk.

MONAI"s ``CheckpointSaver`` and ignite"s ``Checkpoint`` delete the file they replace before writing the new
one (``n_saved`` pruning): a process killed in between leaves no checkpoint. :class:`AtomicDiskSaver` writes
to a temporary name, ``fsync``s and renames, and removes what it replaces only after;
:class:`AtomicCheckpointSaver` is MONAI"s saver on it, pruning the resume checkpoints of earlier processes
once a newer one is complete."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import ignite.distributed as idist
import torch
from ignite.engine import Engine
from ignite.handlers.checkpoint import BaseSaveHandler
from monai.handlers import CheckpointSaver

from monai_ext.handlers.checkpoint_files import epoch_checkpoints, remove_stale_temporaries
from monai_ext.utils import atomic_path

__all__ = ["AtomicCheckpointSaver", "AtomicDiskSaver"]


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
