"""Steps of the study: each runs a command, records what it used, and is skipped when nothing changed."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import runpy
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monai_ext.errors import SUMMARY_PREFIX
from monai_ext.utils import file_sha256, write_json

__all__ = ["PRELOAD", "Step", "StepFailed", "StepRunner"]

#: what the step server imports once: each ``python -m MODULE`` step then starts as a fork of it, in
#: its own process as before, without paying these imports again (about 4 s a step on 2 CPU cores)
PRELOAD = ["torch", "torchvision", "ignite.engine", "monai.bundle", "monai_ext.handlers", "monai_ext.transforms"]


class StepFailed(RuntimeError):
    """A step's command failed; the message names the step and its log."""


@dataclass
class Step:
    """One step: ``command`` (argv) must produce every path in ``outputs``; ``inputs`` are files whose
    contents (and ``settings``, and the command itself) decide whether an earlier run still holds.
    ``work_dirs`` hold the step's outputs and resumable state (training checkpoints): they are kept
    when an interrupted step is run again unchanged, and emptied when it reruns for any other reason.
    Files in them matching ``resume_files`` (glob patterns) are deleted once the step is complete:
    a complete step is never resumed, and a VGG19_bn resume checkpoint alone is 1.6 GB."""

    name: str
    command: list[str]
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    work_dirs: list[Path] = field(default_factory=list)
    resume_files: list[str] = field(default_factory=list)


def _run_module(module: str, args: list[str], log_path: str) -> None:
    """A step's ``python -m module args`` inside a process forked from the step server, its output to
    ``log_path``: the same module, arguments and process isolation as a new interpreter."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)  # SystemExit(n) becomes the exit code
    except Exception as e:  # noqa: BLE001 - as the interpreter would end: the traceback, then the message
        sys.excepthook(type(e), e, e.__traceback__)
        sys.exit(1)


def _last_error(log_path: Path) -> str:
    """``": <the project's message>"`` when a failed step's log ends with one (see
    :func:`~monai_ext.errors.install_excepthook`), else nothing."""
    text = log_path.read_text(errors="replace")
    at = text.rfind(f"{SUMMARY_PREFIX} (")
    return f": {text[at:].strip()}" if at >= 0 else ""


def _step_server() -> multiprocessing.context.BaseContext:
    """The ``forkserver`` context with :data:`PRELOAD` (the server starts at the first step; it never runs
    torch itself, so forking it is safe)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class StepRunner:
    """Run steps in order under ``run_dir``; ``force`` reruns everything. Wall times are kept in ``times``.

    A ``python -m MODULE ...`` step runs in a process forked from a server that has imported
    :data:`PRELOAD` (with ``preload``, the default on platforms with ``fork``); any other command, or
    every step without ``preload``, in a new process."""

    def __init__(self, run_dir: Path, force: bool = False, log=print, preload: bool | None = None) -> None:
        if preload is None:
            preload = "forkserver" in multiprocessing.get_all_start_methods()
        self.server = _step_server() if preload else None
        self.run_dir = run_dir
        self.force = force
        self.log = log
        self.times: dict[str, float] = {}
        self.skipped: list[str] = []
        (run_dir / "steps").mkdir(parents=True, exist_ok=True)
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)

    def _fingerprint(self, step: Step) -> str:
        record = {
            "command": step.command[1:] if step.command and step.command[0] == sys.executable else step.command,
            "settings": step.settings,
            "inputs": {str(p): file_sha256(p) for p in step.inputs},
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()

    def run(self, step: Step) -> None:
        stamp = self.run_dir / "steps" / f"{step.name}.json"
        fingerprint = self._fingerprint(step)
        record = json.loads(stamp.read_text()) if stamp.is_file() else {}
        same = not self.force and record.get("fingerprint") == fingerprint
        if same and record.get("complete", True) and all(p.exists() for p in step.outputs):
            self.log(f"[skip] {step.name}: outputs complete, inputs and settings unchanged")
            self.skipped.append(step.name)
            self.times[step.name] = record.get("seconds", 0.0)
            return
        log_path = self.run_dir / "logs" / f"{step.name}.log"
        if same and not record.get("complete", True):  # interrupted with these settings: the bundles resume
            self.log(f"[run ] {step.name}, resuming (log: {log_path})")
        else:  # forced, changed or unknown: earlier checkpoints must not be resumed
            for folder in step.work_dirs:
                shutil.rmtree(folder, ignore_errors=True)
            self.log(f"[run ] {step.name} (log: {log_path})")
        write_json({"fingerprint": fingerprint, "complete": False}, stamp)
        start = time.time()
        with open(log_path, "w") as log_file:
            log_file.write("$ " + " ".join(step.command) + "\n")
            log_file.flush()
            if self.server is not None and step.command[:2] == [sys.executable, "-m"]:
                process = self.server.Process(
                    target=_run_module, args=(step.command[2], step.command[3:], str(log_path))
                )
                process.start()
                process.join()
                code = process.exitcode
            else:
                env = {**os.environ, "PYTHONUNBUFFERED": "1"}
                code = subprocess.call(step.command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        seconds = time.time() - start
        missing = [str(p) for p in step.outputs if not p.exists()]
        if code != 0 or missing:
            why = f"exited {code}" if code != 0 else f"did not write {missing}"
            raise StepFailed(f"step {step.name!r} failed ({why}){_last_error(log_path)}; see {log_path}")
        self.times[step.name] = seconds
        for folder in step.work_dirs:
            for pattern in step.resume_files:
                for path in folder.glob(pattern):
                    path.unlink()
        write_json(
            {
                "fingerprint": fingerprint,
                "complete": True,
                "seconds": seconds,
                "outputs": [str(p) for p in step.outputs],
            },
            stamp,
        )
        self.log(f"[done] {step.name} in {seconds:.0f}s")
