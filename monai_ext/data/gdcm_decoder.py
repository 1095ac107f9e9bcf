"""Decoding with GDCM in a process of its own, so that a file that aborts GDCM cannot end this one.

The reader decodes JPEG baseline and JPEG 2000 with Pillow and RLE with pydicom in this process; the
transfer syntaxes only GDCM decodes here (JPEG Lossless, JPEG-LS, 12-bit JPEG Extended) go to
:func:`decode_in_worker`: one long-lived worker process per process that uses it
(:mod:`monai_ext.data.gdcm_worker`, a script that imports pydicom, numpy and gdcm only, about a third
of a second to start), restarted when a file ends it or takes longer than :data:`DECODE_TIMEOUT_S`.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from monai_ext.errors import CXRReadError

__all__ = ["DECODE_TIMEOUT_S", "decode_in_worker"]

#: seconds one file may take to decode before the worker is stopped and the file refused
DECODE_TIMEOUT_S = 120.0
_WORKER = Path(__file__).with_name("gdcm_worker.py")


class _Worker:
    """The worker process of this process (a forked child starts its own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.pid = 0  # the process that started the worker

    def _start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None or self.pid != os.getpid():
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(_WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            self.pid = os.getpid()
        return self.process

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _read(self, stream, n: int, deadline_s: float) -> bytes:
        chunks, left = [], n
        fd = stream.fileno()
        while left:
            ready, _, _ = select.select([fd], [], [], deadline_s)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def decode(self, path: Path) -> np.ndarray:
        with self.lock:
            process = self._start()
            try:
                process.stdin.write(os.fsencode(str(path.resolve())) + b"\n")
                process.stdin.flush()
                size = struct.unpack(">I", self._read(process.stdout, 4, DECODE_TIMEOUT_S))[0]
                header = json.loads(self._read(process.stdout, size, DECODE_TIMEOUT_S))
                if "error" in header:
                    raise CXRReadError(path, f"cannot decode the pixel data: {header['error']}")
                shape, dtype = tuple(header["shape"]), np.dtype(header["dtype"])
                payload = self._read(process.stdout, int(np.prod(shape)) * dtype.itemsize, DECODE_TIMEOUT_S)
            except TimeoutError:
                self._stop()
                raise CXRReadError(
                    path, f"the decoder took longer than {DECODE_TIMEOUT_S:.0f} s on this file: not decoded"
                ) from None
            except (EOFError, BrokenPipeError, OSError):
                code = process.wait()
                self.process = None
                raise CXRReadError(
                    path, f"the decoder (GDCM) ended on this file (exit code {code}): a broken or hostile file"
                ) from None
        return np.frombuffer(payload, dtype=dtype).reshape(shape).copy()


_worker = _Worker()


def decode_in_worker(path: str | os.PathLike) -> np.ndarray:
    """The stored pixel values of the DICOM file ``path``'s one frame, decoded by GDCM in the worker process.

    Raises:
        CXRReadError: GDCM cannot decode it, ended on it, or took longer than :data:`DECODE_TIMEOUT_S`.
    """
    return _worker.decode(Path(path))
