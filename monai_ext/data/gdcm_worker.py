"""The GDCM decoder's own process: it decodes the pixel data of the DICOM files it is sent, one at a time.

GDCM is the only decoder here for JPEG Lossless, JPEG-LS and 12-bit JPEG Extended, and on some broken
files it throws a C++ exception that its Python wrapper does not catch: the process aborts. So it runs
here, as a script (``python gdcm_worker.py``: it imports pydicom, numpy and gdcm only, not the package),
started and restarted by :mod:`monai_ext.data.gdcm_decoder`; a file that aborts it takes only this
process down and is refused by name. Its standard error (GDCM's messages) goes nowhere.

Protocol, over standard input and output: a request is one line, the file's path; the answer is a
4-byte big-endian length, a JSON header of that length (``{"dtype", "shape"}`` or ``{"error"}``) and,
after a header without an error, the array's bytes.
"""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pydicom
from pydicom.uid import JPEGExtended12Bit


def decode(path: str) -> np.ndarray:
    """The stored values of the file's one frame: pydicom's GDCM plugin, or for 12-bit JPEG Extended (which
    pydicom hands only to the GPL libjpeg plugin) GDCM's own reader."""
    ds = pydicom.dcmread(path, force=True)
    try:
        return ds.pixel_array
    except Exception:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if syntax == JPEGExtended12Bit and int(ds.get("BitsStored", 8)) > 8:
            raw = _gdcm_reader(path, int(ds.Rows), int(ds.Columns))
            if raw is not None:
                return raw
        raise


def _gdcm_reader(path: str, rows: int, columns: int) -> np.ndarray | None:
    """One grey frame decoded by GDCM's own reader, or None when GDCM is missing or fails."""
    try:
        import gdcm
    except ImportError:
        return None
    gdcm.Trace.WarningOff()
    reader = gdcm.ImageReader()
    reader.SetFileName(path)
    if not reader.Read():
        return None
    image = reader.GetImage()
    buffer = image.GetBuffer()  # the wrapper returns the bytes as str, or None when it cannot decode
    if buffer is None:
        return None
    buffer = buffer.encode("utf-8", "surrogateescape")
    dtypes = {"UINT8": np.uint8, "INT8": np.int8, "UINT16": np.uint16, "INT16": np.int16}
    dtype = dtypes.get(image.GetPixelFormat().GetScalarTypeAsString())
    if dtype is None or image.GetPixelFormat().GetSamplesPerPixel() != 1:
        return None
    if len(buffer) != rows * columns * np.dtype(dtype).itemsize:
        return None
    return np.frombuffer(buffer, dtype=dtype).reshape(rows, columns).copy()


def _answer(out, header: dict, payload: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    out.write(struct.pack(">I", len(encoded)) + encoded + payload)
    out.flush()


def main() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        path = line.rstrip(b"\n").decode("utf-8", "surrogateescape")
        try:
            raw = np.ascontiguousarray(decode(path))
        except MemoryError:
            _answer(out, {"error": "not enough memory to decode it"})
        except Exception as e:  # noqa: BLE001 - every decoder failure is an answer, not the end of this process
            _answer(out, {"error": f"{type(e).__name__}: {e}"[:2000]})
        else:
            _answer(out, {"dtype": raw.dtype.str, "shape": list(raw.shape)}, raw.tobytes())


if __name__ == "__main__":
    main()
