"""Writing the synthetic default dataset in the COVID-QU-Ex and COVIDx CXR-3 layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from monai_ext.data.image_writer import mask_name_for, write_dicom_cr, write_png
from monai_ext.tools.synthetic.phantom import CLASSES, make_phantom
from monai_ext.utils import atomic_path, write_json

__all__ = ["BINARY_CLASS", "DEFAULTS", "QU_EX_CLASS", "write_synthetic_dataset"]

#: the embedded default dataset: ``make data``, the bundles' defaults and ``make reproduce`` use it
DEFAULTS = {"n_seg": 150, "n_cls": 300, "size": 256, "seed": 0}

#: synthetic class -> COVID-QU-Ex folder name
QU_EX_CLASS = {"normal": "Normal", "COVID-19": "COVID-19", "pneumonia": "Non-COVID"}
#: 3-class COVIDx name -> binary COVIDx CXR-3 name
BINARY_CLASS = {"COVID-19": "positive", "pneumonia": "negative", "normal": "negative"}
#: the storage formats cycled through in the COVIDx layout, so every input path runs
COVIDX_FORMATS = ("png8", "png16", "dicom-mono1", "jpeg", "dicom-mono2")
SOURCES = ("synth-a", "synth-b", "synth-c")


def _rng(seed: int, part: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, part, index])


def _write_image(image: np.ndarray, path: Path, fmt: str, patient_id: str, uid_seed: str) -> None:
    if fmt == "png8":
        write_png(np.round(image * 255).astype(np.uint8), path)
    elif fmt == "png16":
        write_png(np.round(image * 65535).astype(np.uint16), path)
    elif fmt == "jpeg":
        with atomic_path(path) as tmp:
            Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp, format="JPEG", quality=92)
    elif fmt.startswith("dicom"):
        modality = "CR" if fmt.endswith("mono1") else "DX"
        write_dicom_cr(
            image, path, monochrome1=fmt.endswith("mono1"), modality=modality, patient_id=patient_id, uid_seed=uid_seed
        )
    else:
        raise ValueError(f"unknown synthetic format {fmt!r}")


def _mask_png(lung: np.ndarray, path: Path) -> None:
    write_png(np.where(lung, 255, 0).astype(np.uint8), path)


def write_lung_seg(out: Path, n: int, size: int, seed: int) -> dict[str, int]:
    """COVID-QU-Ex "Lung Segmentation Data": ``<Split>/<Class>/images`` and ``.../lung masks``, 60/20/20."""
    counts: dict[str, int] = {}
    for i in range(n):
        label = CLASSES[i % 3]
        frac = (i // 3) / max(1, (n - 1) // 3 + 1)
        split = "Train" if frac < 0.6 else ("Val" if frac < 0.8 else "Test")
        folder = out / split / QU_EX_CLASS[label]
        name = f"{QU_EX_CLASS[label]} ({i + 1}).png"  # the real set's names have spaces and brackets
        p = make_phantom(_rng(seed, 1, i), size, label)
        fmt = "png16" if i % 4 == 3 else "png8"
        _write_image(p.image, folder / "images" / name, fmt, "", "")
        _mask_png(p.lung, folder / "lung masks" / name)
        counts[split] = counts.get(split, 0) + 1
    return counts


def write_covidx(out: Path, gt_out: Path, n: int, size: int, seed: int) -> dict[str, int]:
    """COVIDx CXR-3: ``train/``, ``test/``, ``train.txt``/``test.txt`` (binary) and ``*_3class.txt``.

    Patients have one to three images, all of one class; every fifth patient of each class is test.
    Ground-truth lung masks go to ``gt_out/<split>/<image stem>.png`` (not part of COVIDx).
    """
    rng = _rng(seed, 2, 0)
    rows: dict[str, list[tuple[str, str, str, str]]] = {"train": [], "test": []}
    i, patient = 0, 0
    while i < n:
        label = CLASSES[patient % 3]
        split = "test" if (patient // 3) % 5 == 4 else "train"  # every fifth patient of each class
        source = SOURCES[int(rng.integers(0, len(SOURCES)))]  # independent of the class: no shortcut
        pid = f"S{patient:04d}"
        for k in range(min(int(rng.integers(1, 4)), n - i)):
            fmt = COVIDX_FORMATS[i % len(COVIDX_FORMATS)]
            ext = {"png8": ".png", "png16": ".png", "jpeg": ".jpg"}.get(fmt, ".dcm")
            name = f"synth.{pid}.{k}{ext}"
            p = make_phantom(_rng(seed, 3, i), size, label)
            _write_image(p.image, out / split / name, fmt, pid, f"{seed}-{i}")
            _mask_png(p.lung, gt_out / mask_name_for(f"{split}/{name}"))
            rows[split].append((pid, name, label, source))
            i += 1
        patient += 1
    for split, items in rows.items():
        for suffix, mapping in (("", BINARY_CLASS), ("_3class", None)):
            text = "".join(f"{p} {f} {mapping[c] if mapping else c} {s}\n" for p, f, c, s in items)
            with atomic_path(out / f"{split}{suffix}.txt") as tmp:
                tmp.write_text(text)
    return {split: len(items) for split, items in rows.items()}


def write_synthetic_dataset(out: str | os.PathLike, n_seg: int, n_cls: int, size: int, seed: int) -> dict:
    """Write ``out/lung-seg`` (COVID-QU-Ex layout), ``out/covidx`` (COVIDx CXR-3 layout),
    ``out/covidx-lung-gt`` (true masks of the COVIDx images) and ``out/synthetic.json``.

    The same arguments give the same bytes.
    """
    out = Path(out)
    if n_seg < 15 or n_cls < 10:
        raise ValueError(f"--n-seg must be >= 15 and --n-cls >= 10 to fill every split and class, got {n_seg}, {n_cls}")
    if size < 64:
        raise ValueError(f"--size must be at least 64 pixels, got {size}")
    manifest = {
        "generator": "monai_ext.tools.synthetic",
        "seed": seed,
        "size": size,
        "lung-seg": write_lung_seg(out / "lung-seg", n_seg, size, seed),
        "covidx": write_covidx(out / "covidx", out / "covidx-lung-gt", n_cls, size, seed),
    }
    write_json(manifest, out / "synthetic.json")
    return manifest
