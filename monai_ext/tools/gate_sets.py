"""The pictures the input gate is fitted and measured on, made from real radiographs, and the classification
bundle's inference over a folder of them.

- :data:`MILD`: degradations a radiograph from another hospital may carry, which the gate must still answer
  (compression, resizing, gamma, small rotations, border crops): the gate's thresholds are fitted on
  validation images and these (:mod:`monai_ext.tools.fit_gate`);
- :data:`NEAR_OOD`: radiographs no reader could read or that are not a frontal chest view as it should be
  shown (strong blur, heavy noise, a thumbnail enlarged, crops to one lung, to the top third or to the centre,
  tiled, inverted, turned by 90 or 180 degrees, upside down): the gate must refuse them
  (:mod:`monai_ext.tools.gate_targets`).

Each is a function of a grey ``uint8`` picture ``(rows, columns)`` and an index (the seeded noise and the
direction of a turn depend on it) that returns the picture made and the suffix of the file it is written to.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from monai_ext.bundle import bundle_command
from monai_ext.constants import CLS_BUNDLE, MANIFEST_FILE, PREDICTIONS_FILE, REPO_ROOT
from monai_ext.data import ManifestStatus, read_cxr, write_png
from monai_ext.utils import read_csv

__all__ = ["MILD", "NEAR_OOD", "infer_folder", "write_kinds"]

Make = Callable[[np.ndarray, int], tuple[np.ndarray, str]]


def _jpeg(picture: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("L"))


def _resized(picture: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(picture.shape)
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.BOX if scale < 1 else Image.BILINEAR))


def _rotated(picture: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(Image.fromarray(picture).rotate(degrees, resample=Image.BILINEAR, fillcolor=0))


def _border_cropped(picture: np.ndarray, share: float) -> np.ndarray:
    rows, cols = (round(share * n) for n in picture.shape)
    return picture[rows : picture.shape[0] - rows, cols : picture.shape[1] - cols]


def _scaled(array: np.ndarray) -> np.ndarray:
    return np.clip(np.round(array), 0, 255).astype(np.uint8)


#: the mild degradations, by name
MILD: dict[str, Make] = {
    "jpeg20": lambda p, i: (_jpeg(p, 20), ".jpg"),
    "size256": lambda p, i: (_resized(p, 256), ".png"),
    "gamma08": lambda p, i: (_scaled(255 * (p / 255.0) ** 0.8), ".png"),
    "rotate6": lambda p, i: (_rotated(p, 6 if i % 2 else -6), ".png"),
    "crop5": lambda p, i: (_border_cropped(p, 0.05), ".png"),
}


def _blurred(picture: np.ndarray) -> np.ndarray:
    return _scaled(ndimage.gaussian_filter(picture.astype(np.float64), 25 * max(picture.shape) / 1024))


def _noisy(picture: np.ndarray, index: int) -> np.ndarray:
    """Gaussian noise of sigma 64 grey levels in cells of a 256 px grid: as heavy seen whole as pixel by pixel."""
    cell = -(-max(picture.shape) // 256)
    grid = [-(-n // cell) for n in picture.shape]
    noise = np.kron(np.random.default_rng(index).normal(0, 64, grid), np.ones((cell, cell)))
    return _scaled(picture.astype(np.float64) + noise[: picture.shape[0], : picture.shape[1]])


def _thumbnail(picture: np.ndarray) -> np.ndarray:
    small = _resized(picture, 32)
    return np.asarray(Image.fromarray(small).resize(picture.shape[::-1], Image.BILINEAR))


def _tiled(picture: np.ndarray) -> np.ndarray:
    half = _resized(picture, max(picture.shape) // 2)
    return np.block([[half, half], [half, half]])


def _part(picture: np.ndarray, rows: tuple[float, float], cols: tuple[float, float]) -> np.ndarray:
    r, c = picture.shape
    return np.ascontiguousarray(
        picture[round(rows[0] * r) : round(rows[1] * r), round(cols[0] * c) : round(cols[1] * c)]
    )


#: the near-out-of-distribution kinds, by name
NEAR_OOD: dict[str, Make] = {
    "blurred": lambda p, i: (_blurred(p), ".png"),
    "noise": lambda p, i: (_noisy(p, i), ".png"),
    "thumbnail": lambda p, i: (_thumbnail(p), ".png"),
    "one_lung": lambda p, i: (_part(p, (0.0, 1.0), (0.0, 0.5) if i % 2 else (0.5, 1.0)), ".png"),
    "top_third": lambda p, i: (_part(p, (0.0, 1 / 3), (0.0, 1.0)), ".png"),
    "centre": lambda p, i: (_part(p, (0.3, 0.7), (0.3, 0.7)), ".png"),
    "tiled": lambda p, i: (_tiled(p), ".png"),
    "inverted": lambda p, i: (255 - p, ".png"),
    "rotated": lambda p, i: (np.ascontiguousarray(np.rot90(p, 1 if i % 2 else -1)), ".png"),
    "rotated_180": lambda p, i: (np.ascontiguousarray(np.rot90(p, 2)), ".png"),
    "upside_down": lambda p, i: (np.ascontiguousarray(p[::-1]), ".png"),
}


def write_kinds(
    items: Sequence[dict], out: Path, kinds: dict[str, Make], keep_original: bool = False
) -> dict[str, Path]:
    """Write each of ``kinds`` of every radiograph of ``items`` (``{"image", "name"}``, as
    :func:`~monai_ext.data.find_cxr_images` gives them) under ``out/KIND/``, named after the item, and with
    ``keep_original`` the radiograph itself under ``out/original/``; returns the folders by kind."""
    folders = {name: out / name for name in (["original"] if keep_original else []) + list(kinds)}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for index, item in enumerate(items):
        image, _ = read_cxr(item["image"])
        picture = np.round(image * 255).astype(np.uint8)
        stem = Path(item["name"]).with_suffix("").as_posix().replace("/", "_")
        if keep_original:
            write_png(picture, folders["original"] / f"{stem}.png")
        for name, make in kinds.items():
            made, suffix = make(picture, index)
            if suffix == ".jpg":
                (folders[name] / f"{stem}{suffix}").write_bytes(_jpeg_bytes(made))
            else:
                write_png(np.ascontiguousarray(made), folders[name] / f"{stem}{suffix}")
    return folders


def _jpeg_bytes(picture: np.ndarray) -> bytes:
    """``picture`` (already JPEG-decoded) as JPEG again at the best quality: its compression stays the one made."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=100)
    return buffer.getvalue()


def infer_folder(
    folder: Path, cls_models: Path, seg_bundle: Path, out: Path, extra: Sequence[str] = ()
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The classification bundle's inference (its documented command, the lung masks predicted on the fly by
    ``seg_bundle``) on every image under ``folder``; returns its predictions rows and the files the reader
    refused, ``{input: reason}``."""
    config = REPO_ROOT / "bundles" / CLS_BUNDLE / "configs" / "inference.json"
    command = bundle_command(
        "run", "--config_file", config, "--dataset_dir", folder, "--output_dir", out, "--ckpt_dir", cls_models,
        "--seg_bundle_dir", seg_bundle, "--num_workers", "0", *extra,
    )  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 and "no input to process" not in done.stderr:
        raise RuntimeError(f"inference on {folder} failed:\n{done.stderr[-3000:]}")
    rows = read_csv(out / PREDICTIONS_FILE) if done.returncode == 0 else []
    refused = {
        row["input"]: row.get("reason", "")
        for row in read_csv(out / MANIFEST_FILE)
        if row["status"] == ManifestStatus.SKIPPED
    }
    return rows, refused
