"""Reading one chest radiograph from PNG, JPEG or DICOM into a float image in [0, 1].

The grey values follow the display pipeline a radiologist sees: for DICOM the
Modality LUT (rescale slope and intercept), then the VOI LUT or window centre
and width, then MONOCHROME1 is inverted so that air is dark, as in
MONOCHROME2 files and in PNG/JPEG. Arrays keep the file's row/column order:
``(rows, columns)``, so a mask written from them overlays the source image.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image, UnidentifiedImageError

try:  # pydicom 3
    from pydicom.pixels import apply_modality_lut, apply_voi
except ImportError:  # pydicom 2.4: MONAI Label 0.8's pydicom-seg does not import under pydicom 3
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi

from monai_ext.constants import IMAGE_SUFFIXES
from monai_ext.data.paths import link_problem
from monai_ext.errors import CXRReadError

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "MIN_RADIOGRAPH_SIDE",
    "colourfulness",
    "detect_format",
    "image_shape",
    "is_cxr_file",
    "radiograph_problem",
    "read_cxr",
]


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
#: the most pixels an image may claim in its header (8192 x 8192): real CR and DX radiographs are under about
#: 20 Mpx and mammograms about 25, and a header that claims more than this is refused before anything is
#: decoded, so that a few-MB file claiming 16384 x 16384 pixels cannot take gigabytes of memory
MAX_PIXELS = 8192 * 8192


@contextlib.contextmanager
def _quiet_decoders() -> Iterator[None]:
    """pydicom's log lines and warnings about the file being read are left out for the block: a file that
    cannot be read gets one line, the project's reason, not the library's traceback above it."""
    # pydicom logs under "pydicom" and its children ("pydicom.pixels.decoders.base" logs a broken RLE frame
    # with its traceback): a disabled parent does not stop a child's records, so each is disabled
    names = ["pydicom", *(n for n in list(logging.Logger.manager.loggerDict) if n.startswith("pydicom."))]
    logs = [logging.getLogger(name) for name in names]
    disabled = [log.disabled for log in logs]
    for log in logs:
        log.disabled = True  # not setLevel: that clears every logger's cache at each call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, was in zip(logs, disabled):
            log.disabled = was


def _too_many_pixels(path: Path, rows: int, columns: int, what: str = "") -> None:
    if rows * columns > MAX_PIXELS:
        raise CXRReadError(
            path,
            f"{what}header claims {rows} x {columns} = {rows * columns / 1e6:.0f} Mpx, above the "
            f"{MAX_PIXELS / 1e6:.0f} Mpx a radiograph may have (MAX_PIXELS); not decoded",
        )


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
    with _quiet_decoders():
        return _format_of(path, head)


def _format_of(path: Path, head: bytes) -> str:
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
    with _quiet_decoders(), np.errstate(all="ignore"):
        fmt = detect_format(path)
        try:
            image, meta = _read_dicom(path) if fmt == "dicom" else _read_pil(path, fmt)
        except CXRReadError:
            raise
        except MemoryError:
            raise CXRReadError(path, "not enough memory to decode it") from None
        except Exception as e:  # the last net: a broken file of a kind the checks above did not name
            raise CXRReadError(path, f"broken {fmt.upper()} file ({type(e).__name__}: {e})") from e
    if not np.isfinite(image).all():
        bad = int(np.size(image) - np.isfinite(image).sum())
        raise CXRReadError(
            path,
            f"{bad} pixel(s) are not finite numbers (NaN or infinity) after the grey-value mapping"
            f"{' (' + meta['grey_mapping'] + ')' if meta.get('grey_mapping') else ''}: not an image",
        )
    meta.pop("grey_mapping", None)
    meta.update({"filename_or_obj": str(path), "spatial_shape": np.asarray(image.shape), "format": fmt})
    return image, meta


def _read_pil(path: Path, fmt: str) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        with Image.open(path) as img:
            _too_many_pixels(path, img.height, img.width)
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
            colour = 0.0 if mode in _GREY_MODES else colourfulness(np.asarray(img.convert("RGB")))
    except (CXRReadError, MemoryError):
        raise
    except UnidentifiedImageError as e:
        raise CXRReadError(path, f"not a readable {fmt.upper()} image ({e})") from e
    except Exception as e:  # Pillow's decoders raise many types; all mean a broken file
        raise CXRReadError(path, f"broken or truncated {fmt.upper()} file ({type(e).__name__}: {e})") from e
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise CXRReadError(path, f"decoded to shape {arr.shape}: one 2-D radiograph expected")
    return np.clip(arr, 0.0, 1.0), {"bit_depth": bits, "mode": mode, "colourfulness": colour if bits == 8 else 0.0}


def _read_dicom(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:  # the pixel data is read only when it is decoded, after the header's size is checked
        ds = pydicom.dcmread(path, force=True, defer_size="64 KB")
        has_pixels = "PixelData" in ds
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1))
        rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    except MemoryError:
        raise
    except Exception as e:  # pydicom raises many types for a broken file; all mean "cannot read"
        raise CXRReadError(path, f"broken DICOM file ({type(e).__name__}: {e})") from e
    if not has_pixels:
        what = ds.get("SOPClassUID", "unknown SOP class")
        raise CXRReadError(
            path, f"DICOM file has no pixel data (SOP class {getattr(what, 'name', what)}): not an image"
        )
    if frames > 1:
        raise CXRReadError(path, f"multi-frame DICOM ({frames} frames): one 2-D radiograph expected")
    _too_many_pixels(path, rows, columns, "DICOM ")
    try:
        problem = _codestream_problem(ds, rows, columns, samples)
    except MemoryError:
        raise
    except Exception as e:  # a transfer syntax that is none, pixel data pydicom cannot parse
        raise CXRReadError(path, f"broken DICOM file ({type(e).__name__}: {e})") from e
    if problem:
        raise CXRReadError(path, f"{problem}: not decoded")
    raw = _decode_pixels(path, ds)
    try:
        image = _stored_to_display(path, ds, raw, samples, photometric)
        meta: dict[str, Any] = {
            "modality": str(ds.get("Modality", "")),
            "photometric_interpretation": photometric,
            "bits_stored": int(ds.get("BitsStored", 8)),
            "patient_id": str(ds.get("PatientID", "")),
            "body_part": str(ds.get("BodyPartExamined", "") or ""),
            "view_position": str(ds.get("ViewPosition", "") or ""),
            "grey_mapping": _grey_mapping(ds),
            "colourfulness": colourfulness(raw[..., :3] * (255.0 / _max_value(ds))) if samples == 3 else 0.0,
        }
        spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
        if spacing is not None and len(spacing) == 2 and all(float(s) > 0 for s in spacing):
            meta["pixel_spacing"] = np.asarray([float(s) for s in spacing])
    except (CXRReadError, MemoryError):
        raise
    except Exception as e:  # header values of the wrong kind or size, in many forms
        raise CXRReadError(path, f"invalid DICOM header value ({type(e).__name__}: {e})") from e
    return np.clip(image, 0.0, 1.0).astype(np.float32), meta


#: Pillow modes that hold no colour
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: longest side an image is sampled down to before its colourfulness is measured
_COLOUR_SIDE = 512


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness of an RGB image ``(rows, columns, 3)`` on a 0-255 scale: 0 for
    grey pixels (a radiograph stored as RGB), about 15 and more for a photograph. Sampled to at most
    512 px a side."""
    rgb = np.asarray(rgb, dtype=np.float64)
    step = -(-max(rgb.shape[:2]) // _COLOUR_SIDE)
    r, g, b = (rgb[::step, ::step, i] for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return round(float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())), 3)


def _max_value(ds: pydicom.Dataset) -> float:
    return float(2 ** int(ds.get("BitsStored", 8)) - 1)


def _stored_to_display(path: Path, ds: pydicom.Dataset, raw: np.ndarray, samples: int, photometric: str) -> np.ndarray:
    """Decoded stored values -> [0, 1] display grey (before clipping): luminance of RGB, or the grey pipeline."""
    if samples == 1 and raw.ndim != 2:
        raise CXRReadError(path, f"pixel data of shape {raw.shape}: one 2-D radiograph expected, not a volume")
    if samples == 3:
        # colour secondary capture: pydicom gives RGB; luminance as Pillow's convert("L") does
        if raw.ndim != 3:
            raise CXRReadError(path, f"colour pixel data of shape {raw.shape}: one 2-D radiograph expected")
        return (raw[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / _max_value(ds)
    if samples != 1:
        raise CXRReadError(path, f"{samples} samples per pixel: grey or RGB expected")
    image = _dicom_grey_to_display(path, ds, raw)
    return 1.0 - image if photometric == "MONOCHROME1" else image


#: JPEG start-of-frame markers (every process: baseline, extended, progressive, lossless; JPEG-LS's SOF55)
_SOF_MARKERS = {*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0), 0xF7}


def _codestream_problem(ds: pydicom.Dataset, rows: int, columns: int, samples: int) -> str | None:
    """Why a compressed frame's own header disagrees with the DICOM header (rows, columns, samples, a
    precision above the bits allocated), or None. Decoders (GDCM) trust the DICOM header and can abort
    the whole process on such a file; it is refused before any decoder sees it."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        return None
    data = bytes(ds.PixelData[:65536])
    found = _jpeg_frame_header(data) or _j2k_frame_header(data)
    if found is None:
        return None  # not a codestream this check reads (RLE): the decoder judges it
    kind, precision, height, width, components = found
    allocated = int(ds.get("BitsAllocated", 16))
    if (height and height != rows) or width != columns or components != samples or precision > allocated:
        return (
            f"the {kind} codestream is {height} x {width} pixels, {components} component(s) of {precision} bits, "
            f"the DICOM header says {rows} x {columns}, {samples} sample(s) of at most {allocated} bits"
        )
    return None


def _jpeg_frame_header(data: bytes) -> tuple[str, int, int, int, int] | None:
    """``("JPEG", precision, rows, columns, components)`` from the first start-of-frame segment."""
    at = data.find(b"\xff\xd8")
    if at < 0:
        return None
    at += 2
    while at + 10 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:
            at += 1
        elif marker in _SOF_MARKERS:
            p, y, x, n = (
                data[at + 4],
                int.from_bytes(data[at + 5 : at + 7], "big"),
                int.from_bytes(data[at + 7 : at + 9], "big"),
                data[at + 9],
            )
            return ("JPEG-LS" if marker == 0xF7 else "JPEG"), p, y, x, n
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:
            at += 2
        else:
            at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def _j2k_frame_header(data: bytes) -> tuple[str, int, int, int, int] | None:
    """``("JPEG 2000", precision, rows, columns, components)`` from the SIZ segment."""
    at = data.find(b"\xff\x4f\xff\x51")
    if at < 0 or at + 44 > len(data):
        return None
    word = lambda i: int.from_bytes(data[at + i : at + i + 4], "big")
    width, height = word(8) - word(16), word(12) - word(20)
    components = int.from_bytes(data[at + 40 : at + 42], "big")
    precision = (data[at + 42] & 0x7F) + 1 if at + 43 <= len(data) else 0
    return "JPEG 2000", precision, height, width, components


def _grey_mapping(ds: pydicom.Dataset) -> str:
    """The header values that map stored values to grey, as a reason can name them."""
    names = ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth", "VOILUTFunction")
    return ", ".join(f"{n} {ds[n].value}" for n in names if n in ds)


#: decoders that run in this process (pydicom 3's plugin names): pydicom's own (raw data, RLE) and Pillow
#: (JPEG baseline and 8-bit extended, JPEG 2000); what only GDCM decodes runs in its own process
_IN_PROCESS_PLUGINS = ("pydicom", "pillow")


def _decode_pixels(path: Path, ds: pydicom.Dataset) -> np.ndarray:
    """The stored pixel values: uncompressed and RLE by pydicom, JPEG baseline and JPEG 2000 by Pillow, in
    this process; JPEG Lossless, JPEG-LS and 12-bit JPEG Extended by GDCM in a process of its own
    (:mod:`monai_ext.data.gdcm_decoder`), so that a file that aborts GDCM does not end this one."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    compressed = syntax is not None and syntax.is_compressed
    plugin = _in_process_plugin(syntax) if compressed else None
    if not compressed or plugin is not None:
        try:
            return _pixel_array(ds, plugin)
        except MemoryError:
            raise
        except Exception as e:  # decoders raise many types; all mean "cannot decode"
            if not compressed:
                raise CXRReadError(path, f"cannot decode the pixel data: {e}") from e
            # Pillow does not take 12-bit JPEG Extended, and GDCM may read what it refused: in its own process
    from monai_ext.data.gdcm_decoder import decode_in_worker

    return decode_in_worker(path)


def _in_process_plugin(syntax) -> str | None:
    """The in-process decoder of a compressed transfer syntax, or None when only GDCM decodes it."""
    try:  # pydicom 3
        from pydicom.pixels.decoders.base import get_decoder
    except ImportError:  # pydicom 2.4 (MONAI Label's environment)
        from pydicom.pixel_data_handlers import pillow_handler, rle_handler

        for name, handler in (("pydicom", rle_handler), ("pillow", pillow_handler)):
            if handler.is_available() and handler.supports_transfer_syntax(syntax):
                return name
        return None
    try:
        available = get_decoder(syntax).available_plugins
    except (NotImplementedError, ValueError):
        return None
    return next((p for p in _IN_PROCESS_PLUGINS if p in available), None)


def _pixel_array(ds: pydicom.Dataset, plugin: str | None) -> np.ndarray:
    """``ds.pixel_array``, by ``plugin`` when one is named."""
    if plugin is not None:
        if hasattr(ds, "pixel_array_options"):  # pydicom 3
            ds.pixel_array_options(decoding_plugin=plugin)
        else:  # pydicom 2.4: its handlers' names
            ds.convert_pixel_data(handler_name={"pydicom": "rle", "pillow": "pillow"}[plugin])
    return ds.pixel_array


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
    except MemoryError:
        raise
    except Exception as e:  # LUT values of the wrong kind or size, in many forms
        raise CXRReadError(path, f"invalid Modality/VOI LUT attributes ({type(e).__name__}: {e})") from e
    return _min_max(values)


def _window(values: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    def first(name: str) -> float:
        elem = ds[name]
        return float(elem.value[0] if elem.VM > 1 else elem.value)

    center, width = first("WindowCenter"), first("WindowWidth")
    function = str(ds.get("VOILUTFunction", "LINEAR")).upper()
    if function in ("SIGMOID", "LINEAR_EXACT") and not width > 0:  # PS3.3 C.11.2.1.3: width > 0
        raise ValueError(f"Window Width {width} with VOI LUT Function {function}: it must be above 0")
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
        with _quiet_decoders():
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
