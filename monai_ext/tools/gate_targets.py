"""The input gate's targets, measured: it answers on real chest radiographs it was not trained on and refuses
what is not a frontal chest radiograph, near and far.

    python -m monai_ext.tools.gate_targets --cxr DIR --cls-models MODELS --seg-bundle SEG_BUNDLE --out OUT

``--cxr`` is a folder of real chest radiographs none of the models was trained on (the development sample's
test split). The script writes, under ``OUT/sets``, the images that must be refused:

- far out of distribution (:data:`FAR_SETS`): ``other_dicom``, pydicom-data's other modalities and body
  parts as they are (CT, MR, NM, US, secondary captures, a CR of an extremity), with their headers;
  ``other_pixels``, the same pictures as PNG, without a header; ``natural``, scikit-image's natural and
  microscopy images, a gradient and noise; ``blank``, black, white and grey frames;
- near out of distribution (:data:`~monai_ext.tools.gate_sets.NEAR_OOD`): the ``--cxr`` radiographs
  strongly blurred, under heavy noise, enlarged from a 32 px thumbnail, cropped to one lung, to the top
  third or to the centre, tiled, inverted, turned by 90 degrees (one way or the other, alternately) or
  180 degrees, upside down;

runs the classification bundle's own inference on ``--cxr`` and on each set, and reports per set the share
of images answered on (a decision) and refused (``abstain``, or refused by the reader), with Wilson 95%
intervals, and each score's AUROC between the real radiographs and everything to refuse, in
``OUT/gate_targets.json`` and on standard output. The targets: answered on at least 98% of ``--cxr``,
refused at least :data:`NEAR_TARGET` of each near kind and :data:`FAR_TARGET` of the far sets together.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from monai_ext.data import find_cxr_images, read_cxr, write_dicom_cr, write_png
from monai_ext.errors import CXRReadError
from monai_ext.gate import ABSTAIN
from monai_ext.gate.thresholds import BOUNDS, Side
from monai_ext.metrics.classification import wilson_interval
from monai_ext.tools.gate_sets import NEAR_OOD, infer_folder, write_kinds
from monai_ext.utils import write_json

__all__ = [
    "FAR_SETS",
    "FAR_TARGET",
    "NEAR_TARGET",
    "OTHER_DICOM",
    "SETS",
    "SETS_FILE",
    "auroc",
    "measure",
    "write_sets",
]

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
#: the far out-of-distribution sets
FAR_SETS = ("other_dicom", "other_pixels", "natural", "blank")
#: the sets the gate must refuse, in report order
SETS = (*FAR_SETS, *NEAR_OOD)
#: the least share of each near kind the gate must refuse, and of the far sets together
NEAR_TARGET, FAR_TARGET = 0.95, 0.99
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
    """Write the sets the gate must refuse under ``out`` (see the module's docs), the near kinds from the
    first ``per_set`` radiographs of ``cxr`` (all by default); return their folders."""
    from pydicom.data import get_testdata_file

    folders = {name: out / name for name in FAR_SETS}
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
    for value, name in ((0, "black"), (255, "white"), (128, "grey")):
        write_png(np.full((512, 512), value, np.uint8), folders["blank"] / f"{name}.png")
    folders |= write_kinds(find_cxr_images(cxr)[:per_set], out, NEAR_OOD)
    write_json({name: sorted(p.name for p in folder.iterdir()) for name, folder in folders.items()}, out / SETS_FILE)
    return folders


def auroc(refused: list[float], answered: list[float]) -> float | None:
    """The area under the ROC curve of a score telling ``refused`` from ``answered`` (higher: refused),
    ties counted half (the Mann-Whitney U over the pairs); None when either is empty."""
    if not refused or not answered:
        return None
    a, b = np.asarray(refused, np.float64)[:, None], np.asarray(answered, np.float64)[None, :]
    return round(float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size)), 4)


def _share(k: int, n: int, **more) -> dict:
    return {"n": n, "k": k, "rate": k / n if n else None, "ci95": list(wilson_interval(k, n)), **more}


def _scores(rows: list[dict]) -> dict[str, list[float]]:
    """Each bound's score of every row that has one, turned so that higher means refused."""
    out: dict[str, list[float]] = {}
    for name, bound in BOUNDS.items():
        sign = 1.0 if bound.side == Side.ABOVE else -1.0
        values = []
        for row in rows:
            try:
                value = float(row.get(bound.score))
            except (TypeError, ValueError):
                continue
            if not math.isnan(value):
                values.append(sign * value)
        out[name] = values
    return out


def measure(cxr: Path, cls_models: Path, seg_bundle: Path, out: Path, extra: list[str] = ()) -> dict:
    """Answer and refusal rates of the gate on ``cxr`` and on each set, and each score's AUROC (see the
    module's docs)."""
    folders = {"real_cxr": cxr, **write_sets(out / "sets", cxr)}
    report: dict = {"sets": {}}
    rows_of: dict[str, list[dict]] = {}
    for name, folder in folders.items():
        rows, reader_refused = infer_folder(folder, cls_models, seg_bundle, out / "runs" / name, list(extra))
        rows_of[name] = rows
        refused = sorted([r["name"] for r in rows if r["decision"] == ABSTAIN] + list(reader_refused))
        n = len(rows) + len(reader_refused)
        if name == "real_cxr":
            report["real_cxr"] = _share(n - len(refused), n, measure="answered", not_as_expected=refused)
        else:
            answered = sorted(r["name"] for r in rows if r["decision"] != ABSTAIN)
            kind = "far" if name in FAR_SETS else "near"
            report["sets"][name] = _share(len(refused), n, measure="refused", kind=kind, not_as_expected=answered)
    for kind in ("near", "far"):
        sets = [r for r in report["sets"].values() if r["kind"] == kind]
        report[f"all_{kind}"] = _share(sum(r["k"] for r in sets), sum(r["n"] for r in sets), measure="refused")
    real = _scores(rows_of["real_cxr"])
    other = _scores([r for name, rows in rows_of.items() if name != "real_cxr" for r in rows])
    report["auroc"] = {name: auroc(other[name], real[name]) for name in BOUNDS}
    near_ok = all(
        r["rate"] is not None and r["rate"] >= NEAR_TARGET for r in report["sets"].values() if r["kind"] == "near"
    )
    report["targets_met"] = {
        "near": near_ok,
        "far": (report["all_far"]["rate"] or 0) >= FAR_TARGET,
    }
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
    lines = {
        "real_cxr": report["real_cxr"],
        **report["sets"],
        "all_near": report["all_near"],
        "all_far": report["all_far"],
    }
    for name, r in lines.items():
        low, high = r["ci95"]
        rate = "-" if r["rate"] is None else f"{100 * r['rate']:5.1f}%"
        print(f"{name:13s} {r['measure']:9s} {r['k']:4d}/{r['n']:<4d} {rate} ({100 * low:.1f}-{100 * high:.1f})")
    print("AUROC, real radiographs against everything to refuse:")
    for name, value in report["auroc"].items():
        print(f"  {name:24s} {'-' if value is None else f'{value:.3f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
