"""Checkpoint handlers: atomic saving and resuming from the newest interval checkpoint."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ignite.engine import Engine
from monai.handlers import CheckpointLoader, CheckpointSaver

__all__ = ["AtomicCheckpointSaver", "LatestCheckpointLoader", "latest_checkpoint"]

_EPOCH = re.compile(r"epoch=(\d+)\.pt$")


class AtomicCheckpointSaver(CheckpointSaver):
    """MONAI's :class:`CheckpointSaver`, writing each file to a temporary name and renaming it,
    so an interrupted save never leaves a truncated ``model.pt`` or resume checkpoint.

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
                checkpoint.save_handler._atomic = True  # ignite's DiskSaver: temp file + os.replace + chmod a+r

    def attach(self, engine: Engine) -> None:
        if self.engine_key:
            self.save_dict[self.engine_key] = engine  # the Checkpoint objects share this dict
        super().attach(engine)


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The interval checkpoint (``*epoch=N.pt``) with the highest epoch in ``checkpoint_dir``, or None."""
    folder = Path(checkpoint_dir)
    found = [(int(m.group(1)), p) for p in folder.glob("*epoch=*.pt") if (m := _EPOCH.search(p.name))]
    return max(found)[1] if found else None


class LatestCheckpointLoader(CheckpointLoader):
    """Resume a trainer: load the newest ``*epoch=N.pt`` of ``checkpoint_dir`` at start, if there is one.

    Without a checkpoint it logs that training starts fresh and does nothing, so the same config
    serves the first run and every resumed one. ``engine_key`` names the key under which the engine
    it is attached to is restored (see :class:`AtomicCheckpointSaver`).
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike,
        load_dict: dict,
        map_location=None,
        engine_key: str | None = "trainer",
        **kwargs,
    ) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)
        self.engine_key = engine_key
        super().__init__(load_path=str(self.checkpoint_dir / "none"), load_dict=load_dict, map_location=map_location, **kwargs)

    def attach(self, engine: Engine) -> None:
        if self.engine_key:
            self.load_dict[self.engine_key] = engine
        path = latest_checkpoint(self.checkpoint_dir)
        if path is None:
            engine.logger.info("no checkpoint in %s: training starts fresh", self.checkpoint_dir)
            return
        engine.logger.info("resuming from %s", path)
        self.load_path = str(path)
        super().attach(engine)
