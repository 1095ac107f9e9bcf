"""Bundles that travel: the project built as a wheel and installed (not editable) into a fresh virtual
environment, both bundles copied to a folder outside the repository, and every documented bundle command
run there (training on an explicit tiny data list, inference, evaluation, export, verify_metadata,
verify_net_in_out); then a release archive installed with ``monai.bundle download --url`` and run.

The fresh environment takes its third-party packages (torch, MONAI, ...) from the core one through a
``.pth`` line, which does not carry that environment's editable install of this project: ``monai_ext``
comes from the wheel only (checked). ``make integration`` runs this (CXR_INTEGRATION=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from checkout import bundle_source, source_copy
from PIL import Image

from monai_ext.constants import CLS_BUNDLE, IMAGE_SUFFIXES, SEG_BUNDLE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("CXR_INTEGRATION"), reason="make integration runs this (CXR_INTEGRATION=1)"),
]

#: what the wheel is built from (a copy: building writes build/ and egg-info beside the sources)
SOURCES = ("pyproject.toml", "README.md", "monai_ext")


def _run(args: list, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} (in {cwd}) failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict:
    """A wheel of the project, a fresh environment with it installed, a tiny synthetic dataset and its data
    lists written by that environment, and both bundles copied outside the repository."""
    root = tmp_path_factory.mktemp("travel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        source_copy(name, src)
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", root / "dist", src], cwd=root)
    wheel = next((root / "dist").glob("cxr_monai-*.whl"))
    venv = root / "venv"
    _run([sys._base_executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / "bin" / "python"
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip()
    )
    (site / "core-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=root)
    elsewhere = root / "elsewhere"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    for name in (SEG_BUNDLE, CLS_BUNDLE):
        bundle_source(name, elsewhere)
    data = root / "data"
    _run([python, "-m", "monai_ext.tools.synthetic", "--out", data, "--n-seg", "15", "--n-cls", "24", "--size", "64", "--seed", "5"], cwd=root, env=env)  # fmt: skip
    _run([python, "-m", "monai_ext.tools.data_lists", "covid-qu-ex", "--root", data / "lung-seg", "--out", data / "seg.json"], cwd=root, env=env)  # fmt: skip
    _run([python, "-m", "monai_ext.tools.data_lists", "covidx", "--root", data / "covidx", "--out", data / "cls.json",
          "--classes", "binary", "--val-fraction", "0.25", "--masks", data / "covidx-lung-gt"], cwd=root, env=env)  # fmt: skip
    return {"root": root, "python": python, "env": env, "bundles": elsewhere, "data": data}


def _bundle(fresh: dict, name: str, *args, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m monai.bundle ARGS`` of the fresh environment, run from inside the copied bundle (as in the
    model zoo) unless ``cwd`` says otherwise."""
    return _run(
        [fresh["python"], "-m", "monai.bundle", *args],
        cwd=cwd or fresh["bundles"] / name,
        env=fresh["env"],
        check=check,
    )


def test_the_package_comes_from_the_wheel(fresh):
    out = _run([fresh["python"], "-c", "import monai_ext, monai_ext.constants as c; print(monai_ext.__file__, c.in_checkout())"], cwd=fresh["root"], env=fresh["env"]).stdout  # fmt: skip
    path, in_checkout = out.split()
    assert Path(path).is_relative_to(fresh["root"] / "venv") and in_checkout == "False"


def test_a_default_that_needs_the_repository_says_so(fresh):
    result = _bundle(fresh, SEG_BUNDLE, "run", "training", "--config_file", "configs/train.json", check=False)
    assert result.returncode != 0
    assert "embedded synthetic data is part of the cxr-monai repository's checkout" in result.stderr
    assert not (fresh["bundles"] / SEG_BUNDLE / "models" / "model.pt").exists()


@pytest.fixture(scope="module")
def seg_trained(fresh) -> Path:
    """The segmentation copy trained for one epoch from inside it (bundle_root: the working directory)."""
    data = fresh["data"]
    _bundle(fresh, SEG_BUNDLE, "run", "training", "--config_file", "configs/train.json", "--dataset_dir", data / "lung-seg",
            "--datalist", data / "seg.json", "--image_size", "32", "--num_workers", "0", "--max_epochs", "1", "--batch_size", "4")  # fmt: skip
    return fresh["bundles"] / SEG_BUNDLE


def _masks(fresh: dict, bundle: Path, out: Path) -> dict[str, bytes]:
    """The masks the bundle's inference writes for the tiny test images, by relative path."""
    _bundle(fresh, SEG_BUNDLE, "run", "--config_file", "configs/inference.json", "--dataset_dir",
            fresh["data"] / "covidx" / "test", "--output_dir", out, cwd=bundle)  # fmt: skip
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def test_segmentation_trains_infers_evaluates_and_exports_outside_the_repository(fresh, seg_trained):
    seg, data = seg_trained, fresh["data"]
    assert (seg / "models" / "model.pt").is_file()  # bundle_root is the copy being run
    _bundle(fresh, SEG_BUNDLE, "run", "evaluating", "--config_file", "['configs/train.json','configs/evaluate.json']",
            "--dataset_dir", data / "lung-seg", "--datalist", data / "seg.json", "--image_size", "32", "--num_workers", "0")  # fmt: skip
    assert (seg / "eval").is_dir()
    masks = _masks(fresh, seg, fresh["root"] / "masks")
    images = [p for p in (data / "covidx" / "test").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    assert len(masks) == len(images)
    assert set(np.unique(np.asarray(Image.open(next(iter((fresh["root"] / "masks").rglob("*.png"))))))) <= {0, 255}
    _bundle(fresh, SEG_BUNDLE, "ckpt_export", "network_def", "--filepath", "models/model.ts", "--ckpt_file", "models/model.pt",
            "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json")  # fmt: skip
    assert (seg / "models" / "model.ts").is_file()
    _bundle(fresh, SEG_BUNDLE, "verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json")  # fmt: skip
    schema = _run([fresh["python"], "-c", "from monai_ext.tools.zoo import SCHEMA; print(SCHEMA)"], cwd=fresh["root"], env=fresh["env"]).stdout.strip()  # fmt: skip
    _bundle(fresh, SEG_BUNDLE, "verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", schema)


def test_classification_trains_and_infers_outside_the_repository(fresh, seg_trained):
    """Trained on the lungs (masks from the data list), inferring with masks from the segmentation copy beside
    it, run from outside both bundles with --config_file naming the copy."""
    cls, data = fresh["bundles"] / CLS_BUNDLE, fresh["data"]
    _bundle(fresh, CLS_BUNDLE, "run", "training", "--config_file", cls / "configs" / "train.json",
            "--dataset_dir", data / "covidx", "--mask_dir", data / "covidx-lung-gt", "--datalist", data / "cls.json",
            "--image_size", "32", "--max_epochs", "1", "--batch_size", "8", "--num_workers", "0", cwd=fresh["root"])  # fmt: skip
    assert (cls / "models" / "model.pt").is_file() and (cls / "models" / "MODEL_CARD.md").is_file()
    _bundle(fresh, CLS_BUNDLE, "run", "--config_file", cls / "configs" / "inference.json",
            "--dataset_dir", data / "covidx" / "test", "--output_dir", fresh["root"] / "predictions", cwd=fresh["root"])  # fmt: skip
    rows = (fresh["root"] / "predictions" / "predictions.csv").read_text().splitlines()
    assert len(rows) > 1 and "prob_positive" in rows[0]
    assert json.loads((fresh["root"] / "predictions" / "run.json").read_text())["status"] == "complete"


def test_a_release_archive_installs_with_monai_bundle_download_and_infers(fresh, seg_trained):
    out = fresh["root"] / "release"
    _run(
        [fresh["python"], "-m", "monai_ext.tools.release", "--out", out, seg_trained],
        cwd=fresh["root"],
        env=fresh["env"],
    )
    archive = next(out.glob(f"{SEG_BUNDLE}_v*.zip"))
    installed = fresh["root"] / "installed"
    _run([fresh["python"], "-m", "monai.bundle", "download", "--name", SEG_BUNDLE, "--url", archive.as_uri(),
          "--bundle_dir", installed], cwd=fresh["root"], env=fresh["env"])  # fmt: skip
    bundle = installed / SEG_BUNDLE
    assert (bundle / "models" / "model.pt").read_bytes() == (seg_trained / "models" / "model.pt").read_bytes()
    assert not (bundle / "eval").exists() and (bundle / "LICENSE").is_file() and (bundle / "large_files.yml").is_file()
    theirs = _masks(fresh, bundle, fresh["root"] / "release-masks")
    assert theirs == _masks(fresh, seg_trained, fresh["root"] / "copy-masks")
