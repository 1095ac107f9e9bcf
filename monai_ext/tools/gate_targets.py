"""The input gate's targets, measured: it answers on real chest radiographs it was not trained on and abstains on
what is not a frontal chest radiograph.

    python -m monai_ext.tools.gate_targets --cxr DIR --cls-models MODELS --seg-bundle SEG_BUNDLE --out OUT

``--cxr`` is a folder of real chest radiographs none of the models was trained on (the development sample's
test split). The script writes, under ``OUT/sets``, the images that must be refused:

- ``other_dicom``: pydicom-data's other modalities and body parts as they are (CT, MR, NM, US, secondary
  captures, a CR of an extremity), with their headers;
- ``other_pixels``: the same pictures as PNG, without a header (the checks of the picture itself);
- ``natural``: scikit-image's natural images and two made here (a gradient, noise);
- ``inverted``, ``rotated``, ``upside_down``: the ``--cxr`` radiographs with inverted grey values, turned
  by 90 degrees (one way or the other, alternately), upside down;

runs the classification bundle's own inference (its documented command, lung masks predicted on the fly
by ``--seg-bundle``) on ``--cxr`` and on each set, and reports per set the share of images answered on
(a decision) and abstained on (``abstain``, or refused by the reader), with Wilson 95% intervals, in
``OUT/gate_targets.json`` and on standard output. The targets: answered on at least 95% of ``--cxr``,
abstained on at least 95% of the rest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from monai_ext.bundle import bundle_command
from monai_ext.constants import CLS_BUNDLE, MANIFEST_FILE, PREDICTIONS_FILE, REPO_ROOT
from monai_ext.data import ManifestStatus, find_cxr_images, read_cxr, write_dicom_cr, write_png
from monai_ext.errors import CXRReadError
from monai_ext.gate import ABSTAIN
from monai_ext.metrics.classification import wilson_interval
from monai_ext.utils import read_csv, write_json

__all__ = ["OTHER_DICOM", "SETS", "SETS_FILE", "measure", "write_sets"]

#: pydicom-data's single-frame images that are not chest radiographs
OTHER_DICOM = (
    "693_UNCR.dcm",
    "CT_small.dcm",
    "explicit_VR-UN.dcm",
    "MR_small.dcm",
    "MR2_UNCR.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "JPEG2000_UNC.dcm",
    "US1_UNCR.dcm",
    "OBXXXX1A.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "gdcm-US-ALOKA-16.dcm",
    "RG3_UNCR.dcm",
    "SC_rgb.dcm",
    "vlut_04.dcm",
)
#: scikit-image's natural and synthetic pictures that ship with it (no download)
NATURAL = (
    "astronaut", "brick", "camera", "cat", "cell", "checkerboard", "chelsea", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "moon",
    "page", "rocket", "text",
)  # fmt: skip
#: the sets the gate must abstain on, in report order
SETS = ("other_dicom", "other_pixels", "natural", "inverted", "rotated", "upside_down")
#: the list of the sets' files, beside them
SETS_FILE = "sets.json"


def _as_png(array: np.ndarray, path: Path) -> None:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.dtype != np.uint8:
        lo, hi = float(array.min()), float(array.max())
        array = np.round((array - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
    write_png(array, path)


def write_sets(out: Path, cxr: Path, per_set: int | None = None) -> dict[str, Path]:
    """Write the sets the gate must abstain on under ``out`` (see the module's docs), the radiographs made
    invalid from the first ``per_set`` of ``cxr`` (all by default); return their folders."""
    from pydicom.data import get_testdata_file

    folders = {name: out / name for name in SETS}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name in OTHER_DICOM:
        source = Path(get_testdata_file(name))
        (folders["other_dicom"] / name).write_bytes(source.read_bytes())
        try:
            image, _ = read_cxr(source)
        except CXRReadError:
            continue
        _as_png(image, folders["other_pixels"] / (source.stem + ".png"))
    import skimage.data

    for name in NATURAL:
        try:
            picture = getattr(skimage.data, name)()
        except Exception as e:  # noqa: BLE001 - a picture this version ships without (downloaded on demand)
            print(f"natural: {name} left out ({type(e).__name__})")
        else:
            _as_png(picture, folders["natural"] / f"{name}.png")
    ramp = np.tile(np.linspace(0, 255, 512), (512, 1)).astype(np.uint8)
    write_png(ramp, folders["natural"] / "gradient.png")
    write_png(np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8), folders["natural"] / "noise.png")
    write_dicom_cr(ramp / 255.0, folders["natural"] / "gradient_cr.dcm", monochrome1=False, uid_seed="gradient")
    for i, item in enumerate(find_cxr_images(cxr)[:per_set]):
        image, _ = read_cxr(item["image"])
        stem = Path(item["name"]).with_suffix("").as_posix().replace("/", "_")
        eight = np.round(image * 255).astype(np.uint8)
        write_png(255 - eight, folders["inverted"] / f"{stem}.png")
        write_png(np.ascontiguousarray(np.rot90(eight, 1 if i % 2 else -1)), folders["rotated"] / f"{stem}.png")
        write_png(np.ascontiguousarray(eight[::-1]), folders["upside_down"] / f"{stem}.png")
    write_json({name: sorted(p.name for p in folder.iterdir()) for name, folder in folders.items()}, out / SETS_FILE)
    return folders


def _infer(folder: Path, cls_models: Path, seg_bundle: Path, out: Path, extra: list[str]) -> dict[str, str]:
    """The classification bundle's inference on ``folder``; ``{input: decision}``, ``skipped`` for a file the
    reader refused."""
    config = REPO_ROOT / "bundles" / CLS_BUNDLE / "configs" / "inference.json"
    command = bundle_command(
        "run", "--config_file", config, "--dataset_dir", folder, "--output_dir", out, "--ckpt_dir", cls_models,
        "--seg_bundle_dir", seg_bundle, "--num_workers", "0", *extra,
    )  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    decisions = (
        {row["name"]: row["decision"] for row in read_csv(out / PREDICTIONS_FILE)} if done.returncode == 0 else {}
    )
    if done.returncode != 0 and "no input to process" not in done.stderr:
        raise RuntimeError(f"inference on {folder} failed:\n{done.stderr[-3000:]}")
    for row in read_csv(out / MANIFEST_FILE):
        if row["status"] == ManifestStatus.SKIPPED:
            decisions[row["input"]] = ManifestStatus.SKIPPED
    return decisions


def measure(cxr: Path, cls_models: Path, seg_bundle: Path, out: Path, extra: list[str] = ()) -> dict:
    """Answer and abstention rates of the gate on ``cxr`` and on each set (see the module's docs)."""
    folders = {"real_cxr": cxr, **write_sets(out / "sets", cxr)}
    report = {}
    for name, folder in folders.items():
        decisions = _infer(folder, cls_models, seg_bundle, out / "runs" / name, list(extra))
        abstained = sum(d in (ABSTAIN, ManifestStatus.SKIPPED) for d in decisions.values())
        n = len(decisions)
        k = n - abstained if name == "real_cxr" else abstained
        report[name] = {
            "n": n,
            "measure": "answered" if name == "real_cxr" else "abstained",
            "rate": k / n if n else None,
            "ci95": list(wilson_interval(k, n)),
            "k": k,
            "not_as_expected": sorted(
                f for f, d in decisions.items() if (d in (ABSTAIN, ManifestStatus.SKIPPED)) == (name == "real_cxr")
            ),
        }
    others = [r for name, r in report.items() if name != "real_cxr"]
    k, n = sum(r["k"] for r in others), sum(r["n"] for r in others)
    report["all_other"] = {"n": n, "measure": "abstained", "rate": k / n, "ci95": list(wilson_interval(k, n)), "k": k}
    write_json(report, out / "gate_targets.json")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.gate_targets", description=__doc__.splitlines()[0])
    parser.add_argument("--cxr", type=Path, required=True, help="real chest radiographs the models never saw")
    parser.add_argument("--cls-models", type=Path, help="the classification model folder")
    parser.add_argument("--seg-bundle", type=Path, help="a segmentation bundle with its weights")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets-only", action="store_true", help="only write the sets to refuse (OUT), measure nothing")
    parser.add_argument("--per-set", type=int, default=None, help="radiographs of --cxr made invalid per set")
    args, extra = parser.parse_known_args(argv)
    if args.sets_only:
        for name, folder in write_sets(args.out, args.cxr, args.per_set).items():
            print(f"{name}: {len(list(folder.iterdir()))} files in {folder}")
        return 0
    if args.cls_models is None or args.seg_bundle is None:
        parser.error("--cls-models and --seg-bundle are needed to measure")
    report = measure(args.cxr, args.cls_models, args.seg_bundle, args.out, extra)
    for name, r in report.items():
        low, high = r["ci95"]
        print(
            f"{name:13s} {r['measure']:9s} {r['k']:4d}/{r['n']:<4d} {100 * r['rate']:5.1f}% ({100 * low:.1f}-{100 * high:.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
