"""Steps of the study: each runs a command, records what it used, and is skipped when nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monai_ext.utils import file_sha256, write_json

__all__ = ["Step", "StepFailed", "StepRunner"]


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


class StepRunner:
    """Run steps in order under ``run_dir``; ``force`` reruns everything. Wall times are kept in ``times``."""

    def __init__(self, run_dir: Path, force: bool = False, log=print) -> None:
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
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log_path, "w") as log_file:
            log_file.write("$ " + " ".join(step.command) + "\n")
            log_file.flush()
            code = subprocess.call(step.command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        seconds = time.time() - start
        missing = [str(p) for p in step.outputs if not p.exists()]
        if code != 0 or missing:
            why = f"exited {code}" if code != 0 else f"did not write {missing}"
            raise StepFailed(f"step {step.name!r} failed ({why}); see {log_path}")
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
