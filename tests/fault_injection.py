"""Run a bundle's training in a child process that dies (``os._exit``, no clean-up) at one point of a save.

The points are those of every checkpoint write (:class:`monai_ext.handlers.AtomicDiskSaver` for resume
checkpoints, :class:`monai_ext.handlers.BestModelSaver` for ``model.pt``):

- ``before_write``: nothing of the new file exists yet;
- ``mid_write``: half of its bytes are in the temporary file;
- ``before_rename``: the temporary file is complete and flushed, not yet renamed;
- ``after_rename``: the new file is in place, the old one not yet pruned.

The child is started by the ``forkserver`` method with torch and MONAI preloaded, so each run costs a
fork and the training itself; ``os._exit`` skips every ``finally`` block, as a kill would.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from pathlib import Path

STAGES = ("before_write", "mid_write", "before_rename", "after_rename")
#: the exit code of a child that died at the injected fault
FAULT_EXIT = 86


def _context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["torch", "monai.bundle", "monai_ext.handlers", "monai_ext.transforms", "fault_injection"]
    )
    return ctx


def _train(config_file: str, overrides: dict, log: str, target: str | None, stage: str | None, nth: int) -> None:
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    import torch
    from monai.bundle import run

    from monai_ext import utils
    from monai_ext.handlers import best_model, checkpoint_saver
    from monai_ext.networks import unwrap

    torch.set_num_threads(1)
    calls = {"n": 0}

    def hit(path: Path) -> bool:
        name = path.name.lstrip(".")
        if not name.startswith("model.pt" if target == "model" else "checkpoint_epoch="):
            return False
        calls["n"] += 1
        return calls["n"] == nth

    def die() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(FAULT_EXIT)

    real_commit = utils.commit
    real_saver_write = checkpoint_saver.AtomicDiskSaver._write
    real_model_write = best_model.BestModelSaver._write

    def partial(save, tmp: Path) -> None:
        buffer = io.BytesIO()
        save(buffer)
        data = buffer.getvalue()
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
        die()

    def saver_write(self, ckpt, tmp):
        if stage in ("before_write", "mid_write") and hit(Path(tmp)):
            if stage == "before_write":
                die()
            partial(lambda b: torch.save(ckpt, b), Path(tmp))
        return real_saver_write(self, ckpt, tmp)

    def model_write(self, tmp):
        if stage in ("before_write", "mid_write") and hit(Path(tmp)):
            if stage == "before_write":
                die()
            partial(lambda b: torch.save(unwrap(self.network).state_dict(), b), Path(tmp))
        return real_model_write(self, tmp)

    def commit(tmp, path, durable=False):
        fire = stage in ("before_rename", "after_rename") and hit(Path(path))
        if fire and stage == "before_rename":
            die()
        real_commit(tmp, path, durable)
        if fire:
            die()

    if target is not None:
        checkpoint_saver.AtomicDiskSaver._write = saver_write
        best_model.BestModelSaver._write = model_write
        utils.commit = commit
    run("training", config_file=config_file, **overrides)


def train_in_child(
    config_file,
    overrides: dict,
    log: Path,
    target: str | None = None,
    stage: str | None = None,
    nth: int = 1,
    timeout: float = 300,
) -> int:
    """Train in a child process; with ``target`` (``"checkpoint"`` or ``"model"``) and ``stage``, the child
    dies at that stage of the ``nth`` save of that target. Returns the child's exit code."""
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    proc = _context().Process(target=_train, args=(str(config_file), overrides, str(log), target, stage, nth))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        raise TimeoutError(f"training did not finish in {timeout} s; log: {log}")
    return proc.exitcode
