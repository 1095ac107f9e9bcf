"""Reading one chest radiograph from PNG, JPEG or DICOM into a float image in [0, 1].

The grey values follow the display pipeline a radiologist sees: for DICOM the
Modality LUT (rescale slope and intercept), then the VOI LUT or window centre
and width, then MONOCHROME1 is inverted so that air is dark, as in
MONOCHROME2 files and in PNG/JPEG. Arrays keep the file's row/column order:
``(rows, columns)``, so a mask written from them overlays the source image.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.uid import JPEGExtended12Bit

try:  # pydicom 3
    from pydicom.pixels import apply_modality_lut, apply_voi
except ImportError:  # pydicom 2.4: MONAI Label 0.8's pydicom-seg does not import under pydicom 3
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi

from monai_ext.constants import IMAGE_SUFFIXES
from monai_ext.data.paths import link_problem
from monai_ext.errors import CXRReadError

__all__ = [
    "IMAGE_SUFFIXES",
    "MIN_RADIOGRAPH_SIDE",
    "detect_format",
    "image_shape",
    "is_cxr_file",
    "radiograph_problem",
    "read_cxr",
]


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def is_cxr_file(path: str | os.PathLike) -> bool:
    """Whether a folder scan should take ``path`` as a radiograph (by suffix)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def detect_format(path: str | os.PathLike) -> str:
    """Return ``"png"``, ``"jpeg"`` or ``"dicom"`` from the file's first bytes, not its name.

    Raises:
        CXRReadError: the file is missing, empty or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CXRReadError(path, _not_a_file(path))
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError as e:  # permission denied, I/O error: this file is bad, the batch goes on
        raise CXRReadError(path, f"cannot be read ({e.strerror or e})") from e
    if not head:
        raise CXRReadError(path, "empty file (0 bytes)")
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head[128:132] == b"DICM":
        return "dicom"
    if path.suffix.lower() in (".dcm", ".dicom", ""):
        # DICOM files written without the 128-byte preamble still parse
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - anything pydicom raises means "not DICOM" here
            ds = None
        if ds is not None and ("SOPClassUID" in ds or "Rows" in ds):
            return "dicom"
    named = f" (named {path.suffix})" if path.suffix else ""
    raise CXRReadError(path, f"unknown format{named}: the content is not PNG, JPEG or DICOM (starts with {head[:8]!r})")


def _not_a_file(path: Path) -> str:
    """Why ``path`` is not a readable regular file: missing, a dangling link, a link loop, a folder..."""
    if path.is_symlink() and (problem := link_problem(path)):
        return problem
    return "no such file" if not path.exists() else "not a regular file"


def read_cxr(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one radiograph.

    Returns:
        a float32 array ``(rows, columns)`` in [0, 1] and a metadata dict with
        ``filename_or_obj``, ``spatial_shape``, ``format`` and, for DICOM,
        ``modality``, ``photometric_interpretation``, ``bits_stored``,
        ``pixel_spacing`` (when the header has a non-zero one) and ``patient_id``.

    Raises:
        CXRReadError: the file cannot be read as one 2-D radiograph; the message names the file.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "dicom":
        image, meta = _read_dicom(path)
    else:
        image, meta = _read_pil(path, fmt)
    meta.update({"filename_or_obj": str(path), "spatial_shape": np.asarray(image.shape), "format": fmt})
    return image, meta


def _read_pil(path: Path, fmt: str) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if getattr(img, "n_frames", 1) > 1:
                raise CXRReadError(path, f"{img.n_frames} frames: one 2-D radiograph expected")
            if mode.startswith("I;16") or mode == "I":
                arr = np.asarray(img).astype(np.float32) / 65535.0
                bits = 16
            elif mode == "F":
                arr = np.asarray(img, dtype=np.float32)
                arr = _min_max(arr)
                bits = 32
            else:  # 1, L, LA, P, PA, RGB, RGBA, CMYK, YCbCr: luminance, alpha dropped
                arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
                bits = 8
    except CXRReadError:
        raise
    except UnidentifiedImageError as e:
        raise CXRReadError(path, f"not a readable {fmt.upper()} image ({e})") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CXRReadError(path, f"broken or truncated {fmt.upper()} file ({e})") from e
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise CXRReadError(path, f"decoded to shape {arr.shape}: one 2-D radiograph expected")
    return np.clip(arr, 0.0, 1.0), {"bit_depth": bits, "mode": mode}


def _read_dicom(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as e:
        raise CXRReadError(path, f"broken DICOM file ({e})") from e
    if "PixelData" not in ds:
        what = ds.get("SOPClassUID", "unknown SOP class")
        raise CXRReadError(
            path, f"DICOM file has no pixel data (SOP class {getattr(what, 'name', what)}): not an image"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise CXRReadError(path, f"multi-frame DICOM ({frames} frames): one 2-D radiograph expected")
    raw = _decode_pixels(path, ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples == 1 and raw.ndim != 2:
        raise CXRReadError(path, f"pixel data of shape {raw.shape}: one 2-D radiograph expected, not a volume")
    if samples == 3:
        # colour secondary capture: pydicom gives RGB; luminance as Pillow's convert("L") does
        if raw.ndim != 3:
            raise CXRReadError(path, f"colour pixel data of shape {raw.shape}: one 2-D radiograph expected")
        top = float(2 ** int(ds.get("BitsStored", 8)) - 1)
        image = (raw[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / top
    elif samples != 1:
        raise CXRReadError(path, f"{samples} samples per pixel: grey or RGB expected")
    else:
        image = _dicom_grey_to_display(path, ds, raw)
        if photometric == "MONOCHROME1":
            image = 1.0 - image
    meta: dict[str, Any] = {
        "modality": str(ds.get("Modality", "")),
        "photometric_interpretation": photometric,
        "bits_stored": int(ds.get("BitsStored", 8)),
        "patient_id": str(ds.get("PatientID", "")),
    }
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if spacing is not None and len(spacing) == 2 and all(float(s) > 0 for s in spacing):
        meta["pixel_spacing"] = np.asarray([float(s) for s in spacing])
    return np.clip(image, 0.0, 1.0).astype(np.float32), meta


def _decode_pixels(path: Path, ds: pydicom.Dataset) -> np.ndarray:
    """The stored pixel values, decoded by pydicom's plugins (GDCM among them, for JPEG Lossless, JPEG-LS,
    JPEG 2000 and RLE); 12-bit JPEG Extended, which pydicom hands only to the GPL libjpeg plugin, by GDCM itself."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        return ds.pixel_array
    except Exception as e:  # decoders raise many types; all mean "cannot decode"
        if syntax == JPEGExtended12Bit and int(ds.get("BitsStored", 8)) > 8:
            raw = _decode_with_gdcm(path, ds)
            if raw is not None:
                return raw
        name = getattr(syntax, "name", syntax)
        raise CXRReadError(path, f"cannot decode the pixel data (transfer syntax {name}): {e}") from e


def _decode_with_gdcm(path: Path, ds: pydicom.Dataset) -> np.ndarray | None:
    """One grey frame decoded by GDCM's own reader, or None when GDCM is missing or fails."""
    try:
        import gdcm
    except ImportError:
        return None
    gdcm.Trace.WarningOff()
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    # GDCM's 8-bit codec prints "Unsupported JPEG data precision 12" before its 12-bit one decodes the frame
    with _stderr_silenced():
        if not reader.Read():
            return None
        image = reader.GetImage()
        buffer = image.GetBuffer().encode("utf-8", "surrogateescape")  # the wrapper returns the bytes as str
    dtypes = {"UINT8": np.uint8, "INT8": np.int8, "UINT16": np.uint16, "INT16": np.int16}
    dtype = dtypes.get(image.GetPixelFormat().GetScalarTypeAsString())
    rows, columns = int(ds.Rows), int(ds.Columns)
    if dtype is None or image.GetPixelFormat().GetSamplesPerPixel() != 1:
        return None
    if len(buffer) != rows * columns * np.dtype(dtype).itemsize:
        return None
    return np.frombuffer(buffer, dtype=dtype).reshape(rows, columns).copy()


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send the process's C-level standard error (file descriptor 2) to /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _dicom_grey_to_display(path: Path, ds: pydicom.Dataset, raw: np.ndarray) -> np.ndarray:
    """Modality LUT, then VOI LUT or window (DICOM PS3.3 C.11.2), as [0, 1] floats."""
    try:
        values = apply_modality_lut(raw, ds).astype(np.float64)
        if "VOILUTSequence" in ds:
            out = apply_voi(values, ds).astype(np.float64)
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            return out / float(2**bits - 1)
        if "WindowCenter" in ds and "WindowWidth" in ds:
            return _window(values, ds)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
        raise CXRReadError(path, f"invalid Modality/VOI LUT attributes ({e})") from e
    return _min_max(values)


def _window(values: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    def first(name: str) -> float:
        elem = ds[name]
        return float(elem.value[0] if elem.VM > 1 else elem.value)

    center, width = first("WindowCenter"), first("WindowWidth")
    function = str(ds.get("VOILUTFunction", "LINEAR")).upper()
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width < 1:
        raise ValueError(f"Window Width {width} < 1")
    if width == 1:
        return (values >= center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)


def _min_max(values: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        return np.zeros_like(values, dtype=np.float64)
    return (values - lo) / (hi - lo)


#: the smallest side, in pixels, of an image taken as a radiograph
MIN_RADIOGRAPH_SIDE = 32


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """``(rows, columns)`` of an image file from its header, without decoding the pixels.

    Raises:
        CXRReadError: the file cannot be read, or is not PNG, JPEG or DICOM.
    """
    path = Path(path)
    fmt = detect_format(path)
    try:
        if fmt == "dicom":
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            return int(ds.Rows), int(ds.Columns)
        with Image.open(path) as img:
            return img.height, img.width
    except Exception as e:  # any parser error means the header is unreadable
        raise CXRReadError(path, f"unreadable {fmt.upper()} header ({e})") from e


def radiograph_problem(image: np.ndarray) -> str | None:
    """Why a decoded image cannot be a radiograph (too small, or one flat grey value), or None.

    A file that passes is still only *readable*; the lung-mask plausibility check judges the result.
    """
    rows, columns = image.shape[-2:]
    if min(rows, columns) < MIN_RADIOGRAPH_SIDE:
        return f"{rows}x{columns} pixels: too small for a radiograph (at least {MIN_RADIOGRAPH_SIDE} a side)"
    if float(np.max(image)) - float(np.min(image)) < 1e-3:
        return f"blank image: every pixel is {float(np.max(image)):.3f} (no contrast to segment)"
    return None
