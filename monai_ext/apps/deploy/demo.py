"""The MONAI Deploy application on real and synthetic DICOM (``make deploy-demo``).

Exports both bundles' weights to TorchScript (``python -m monai.bundle ckpt_export``, configs embedded),
fills an input folder with the real chest CR ``RG1_UNCR.dcm`` (pydicom-data), a synthetic CR
(MONOCHROME1) and DX, and two files the app must skip (a CR of a tibia, ``RG3_UNCR.dcm``, and a
PNG), runs the app, and prints what it wrote.

    python -m monai_ext.apps.deploy.demo --out results/deploy
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from pydicom.data import get_testdata_file

from monai_ext.apps.deploy.app import CLS, SEG
from monai_ext.bundle import default_data_path, export_torchscript, find_bundle_root
from monai_ext.constants import TORCHSCRIPT_FILE
from monai_ext.tools.synthetic import ensure_default_data

__all__ = ["export_models", "make_input_folder", "run_demo"]


def make_input_folder(folder: Path) -> Path:
    """RG1_UNCR.dcm (real chest CR), synthetic CR and DX chests, and two files to skip."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy2(get_testdata_file("RG1_UNCR.dcm"), folder / "RG1_UNCR.dcm")
    shutil.copy2(get_testdata_file("RG3_UNCR.dcm"), folder / "RG3_UNCR_tibia.dcm")
    test = Path(default_data_path("covidx", "test"))
    ensure_default_data(test)
    synthetic = sorted(test.glob("*.dcm"))[:2]
    for path in synthetic:
        shutil.copy2(path, folder / path.name)
    png = next(test.glob("*.png"))
    shutil.copy2(png, folder / png.name)
    return folder


def export_models(models: Path, seg_bundle: Path | None = None, cls_bundle: Path | None = None) -> Path:
    """Both bundles' weights as TorchScript (configs embedded) in the SDK's layout of several models:
    ``models/<bundle>/model.ts``; the bundles found as :func:`~monai_ext.bundle.find_bundle_root` does."""
    for bundle, name in ((seg_bundle, SEG), (cls_bundle, CLS)):
        export_torchscript(Path(bundle or find_bundle_root(name)), models / name / TORCHSCRIPT_FILE).check_returncode()
    return models


def run_demo(
    out: Path,
    seg_bundle: Path | None = None,
    cls_bundle: Path | None = None,
    saliency: bool = True,
    gate: bool = True,
) -> dict:
    """Export, fill the input folder, run the app in its own process (with Grad-CAM overlays unless
    ``saliency`` is off, with the input gate unless ``gate`` is off); return ``results.json``."""
    cls_bundle = Path(cls_bundle or find_bundle_root(CLS))
    models = export_models(out / "models", seg_bundle, cls_bundle)
    inputs = make_input_folder(out / "input")
    output = out / "output"
    shutil.rmtree(output, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "monai_ext.apps.deploy.app",
            "--input",
            str(inputs),
            "--output",
            str(output),
            "--model",
            str(models),
            "--cls-bundle",
            str(cls_bundle),
            *(["--saliency"] if saliency else []),
            *([] if gate else ["--no-gate"]),
        ],
        check=True,
    )
    return json.loads((output / "results.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.apps.deploy.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/deploy"))
    args = parser.parse_args(argv)
    results = run_demo(args.out.resolve())
    for item in results["radiographs"]:
        probs = {k: round(v, 4) for k, v in (item.get("probabilities") or {}).items()}
        why = f" ({item['abstain_reason']})" if item.get("abstain_reason") else ""
        print(
            f"{Path(item['file']).name}: decision {item.get('decision')}{why}, {probs} "
            f"lung {100 * item['lung_fraction']:.1f}% -> {item.get('lung_mask', item.get('error'))}"
        )
    for path, why in results["skipped"].items():
        print(f"skipped {Path(path).name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
