"""Two synthetic "hospitals" for the shortcut experiment: in the first, a burned-in marker outside the
lungs tracks the label; in the second, it does not, and exposure, noise and positioning differ.

A classifier that learns the marker scores well on the first hospital's held-out patients and falls on
the second; one that only sees the lungs (the marker is outside them) should hold. The class signal is
the one of :func:`~monai_ext.tools.synthetic.phantom.make_phantom`: inside the lungs only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from monai_ext.data.image_writer import mask_name_for
from monai_ext.tools.synthetic.dataset import BINARY_CLASS, _mask_png, _rng, _write_image
from monai_ext.tools.synthetic.phantom import CLASSES, make_phantom
from monai_ext.utils import atomic_path, write_json

__all__ = ["HOSPITALS", "HOSPITALS_FILE", "burn_marker", "write_two_hospitals"]

#: the two hospitals' settings and marker counts, beside their images
HOSPITALS_FILE = "hospitals.json"

#: per hospital: the chance of a marker on a positive and on a negative image, and how its images are made
HOSPITALS = {
    "hospital-a": {"marker_if_positive": 0.9, "marker_if_negative": 0.1, "gamma": 1.0, "noise": 0.0, "shift": 0.0},
    "hospital-b": {"marker_if_positive": 0.5, "marker_if_negative": 0.5, "gamma": 0.7, "noise": 0.03, "shift": 0.06},
}


def burn_marker(image: np.ndarray) -> np.ndarray:
    """A bright "L" side marker burned into the top-right corner (outside the lungs), as portable films carry."""
    size = image.shape[0]
    out = image.copy()
    r0, c0, h, w, t = int(0.05 * size), int(0.82 * size), int(0.10 * size), int(0.07 * size), max(2, size // 48)
    out[r0 : r0 + h, c0 : c0 + t] = 1.0
    out[r0 + h - t : r0 + h, c0 : c0 + w] = 1.0
    return out


def _shift(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``array`` moved by (dy, dx) pixels, zeros where it leaves nothing."""
    out = np.zeros_like(array)
    rows, cols = array.shape
    out[max(dy, 0) : rows + min(dy, 0), max(dx, 0) : cols + min(dx, 0)] = array[
        max(-dy, 0) : rows - max(dy, 0), max(-dx, 0) : cols - max(dx, 0)
    ]
    return out


def write_two_hospitals(out: str | os.PathLike, n: int, size: int, seed: int) -> dict:
    """``out/covidx`` (COVIDx CXR-3 layout, binary lists, sources ``hospital-a`` and ``hospital-b``, half the
    images each; every fifth patient of each class in the test list), ``out/covidx-lung-gt`` (true masks) and
    ``out/`` :data:`HOSPITALS_FILE` (the settings of :data:`HOSPITALS` and the marker counts per hospital and class).

    Hold ``hospital-b`` out whole (``data_lists covidx --test-sources hospital-b``) to train on the first
    hospital and test on the second. The same arguments give the same bytes.
    """
    out = Path(out)
    if n < 20 or size < 64:
        raise ValueError(f"two hospitals need at least 20 images of at least 64 pixels, got {n} of {size}")
    rows: dict[str, list[tuple[str, str, str, str]]] = {"train": [], "test": []}
    markers = {h: {"positive": [0, 0], "negative": [0, 0]} for h in HOSPITALS}  # [with marker, all]
    for i in range(n):
        hospital = list(HOSPITALS)[i % 2]
        how, rng = HOSPITALS[hospital], _rng(seed, 4, i)
        label = BINARY_CLASS[CLASSES[(i // 2) % 3]]
        split = "test" if (i // 6) % 5 == 4 else "train"  # every fifth patient of each class and hospital
        p = make_phantom(rng, size, CLASSES[(i // 2) % 3])
        image, lung = p.image, p.lung
        if how["shift"]:
            dy, dx = (int(v) for v in rng.integers(-how["shift"] * size, how["shift"] * size + 1, 2))
            image, lung = _shift(image, dy, dx), _shift(lung.astype(np.uint8), dy, dx).astype(bool)
        image = np.clip(image, 0, 1) ** how["gamma"]
        image = np.clip(image + rng.normal(0, how["noise"], image.shape), 0, 1) if how["noise"] else image
        marked = rng.random() < how["marker_if_positive" if label == "positive" else "marker_if_negative"]
        if marked:
            image = burn_marker(image)
        markers[hospital][label][0] += int(marked)
        markers[hospital][label][1] += 1
        pid, name = f"H{i:04d}", f"{hospital}.{i:04d}.png"
        _write_image(image.astype(np.float32), out / "covidx" / split / name, "png8", pid, "")
        _mask_png(lung, out / "covidx-lung-gt" / mask_name_for(f"{split}/{name}"))
        rows[split].append((pid, name, label, hospital))
    for split, items in rows.items():
        with atomic_path(out / "covidx" / f"{split}.txt") as tmp:
            tmp.write_text("".join(f"{p} {f} {c} {s}\n" for p, f, c, s in items))
    manifest = {"generator": "monai_ext.tools.synthetic.hospitals", "seed": seed, "size": size, "n": n}
    manifest["hospitals"] = HOSPITALS
    manifest["markers"] = {h: {c: {"marked": m, "n": t} for c, (m, t) in v.items()} for h, v in markers.items()}
    write_json(manifest, out / HOSPITALS_FILE)
    return manifest
