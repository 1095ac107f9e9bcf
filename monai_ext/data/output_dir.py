"""One job at a time in an output folder, and a record that says whether the job there finished.

A batch job (inference, evaluation, training) claims its output folder before it writes anything
(:func:`claim_output_dir`, the first step of each bundle config's ``initialize``): it takes an
exclusive lock on ``.cxr-monai.lock`` there (``flock``: the operating system releases it when the
process ends, however it ends) and writes ``run.json`` with ``status`` ``running``, its process id,
host and start time. A second job into a folder a live job holds is refused with a message that names
the holder; the lock of a process that is gone is simply taken. When the job's engine completes,
:class:`~monai_ext.handlers.FinishRun` sets ``status`` to ``complete``.

Readers (:func:`run_status`) tell the three cases apart: ``complete``; ``running`` (the lock is held
now); ``interrupted`` (``running`` on record, but no process holds the lock: killed, or failed).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from monai.utils import StrEnum

from monai_ext.constants import LOCK_FILE, RUN_FILE
from monai_ext.errors import CXRError

__all__ = [
    "OutputDirBusyError",
    "RunStatus",
    "claim_output_dir",
    "finish_output_dir",
    "run_status",
]

logger = logging.getLogger(__name__)


class RunStatus(StrEnum):
    """A job's ``status`` in its output folder's run record."""

    RUNNING = "running"  #: started, not finished (or killed: :func:`run_status` tells by the lock)
    COMPLETE = "complete"  #: every output written


#: the claims this process holds: folder -> open lock file (kept open: closing it releases the lock)
_HELD: dict[Path, Any] = {}


class OutputDirBusyError(CXRError):
    """Another live process holds the output folder."""


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _read_record(folder: Path) -> dict[str, Any]:
    try:
        record = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def claim_output_dir(output_dir: str | os.PathLike, input_dir: str | os.PathLike | None = None) -> Path:
    """Claim ``output_dir`` for this process (made when missing) and record the job in ``run.json``.

    Claiming a folder this process already holds does nothing. Returns the folder, so a config can
    write ``"$monai_ext.data.claim_output_dir(@output_dir, @dataset_dir)"`` in ``initialize``.

    Args:
        output_dir: the job's output folder.
        input_dir: the job's input folder, when it has one: an output folder that is the input folder is
            refused before anything is written.

    Raises:
        OutputCollisionError: ``output_dir`` is ``input_dir``.
        OutputDirBusyError: a live process holds it; the message names it (process id, host, start time).
    """
    from monai_ext.data.paths import refuse_output_dir_on_input_dir
    from monai_ext.utils import write_json

    refuse_output_dir_on_input_dir(output_dir, input_dir)
    folder = Path(output_dir).resolve()
    if folder in _HELD:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    lock = open(folder / LOCK_FILE, "a+")  # noqa: SIM115 - held open for as long as the process runs
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        holder = _read_record(folder)
        raise OutputDirBusyError(
            f"{folder}: another job is writing here: process {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, started {holder.get('started', '?')} ({' '.join(holder.get('argv', []))}). "
            "Wait for it to finish, or choose another output folder"
        ) from None
    earlier = _read_record(folder)
    if earlier.get("status") == RunStatus.RUNNING:
        logger.warning(
            "%s: the job of process %s (started %s) did not finish; its outputs there are replaced as this job writes",
            folder,
            earlier.get("pid", "?"),
            earlier.get("started", "?"),
        )
    _HELD[folder] = lock
    write_json(
        {
            "status": RunStatus.RUNNING,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _now(),
            "argv": sys.argv,
        },
        folder / RUN_FILE,
    )
    return folder


def finish_output_dir(output_dir: str | os.PathLike, **facts: Any) -> None:
    """Record in ``run.json`` that this process's job in ``output_dir`` is complete (with ``facts``, such
    as counts), and release the folder. A folder this process did not claim is left alone."""
    from monai_ext.utils import write_json

    folder = Path(output_dir).resolve()
    lock = _HELD.pop(folder, None)
    if lock is None:
        return
    record = _read_record(folder)
    record.update(status=RunStatus.COMPLETE, finished=_now(), **facts)
    write_json(record, folder / RUN_FILE)
    lock.close()


def run_status(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The record of the last job in ``output_dir`` with its ``status`` as it stands: ``complete``,
    ``running`` (its process holds the lock now) or ``interrupted`` (it never finished, and no process
    holds the lock); None for a folder without a record. Reads only: nothing is written or created."""
    folder = Path(output_dir)
    record = _read_record(folder)
    if not record:
        return None
    if record.get("status") == RunStatus.RUNNING and not _locked(folder):
        record["status"] = "interrupted"
    return record


def _locked(folder: Path) -> bool:
    """Whether some process holds the folder's lock now (this one included)."""
    if folder.resolve() in _HELD:
        return True
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock this check may have taken
    return False
