"""Shared fixtures: a tiny synthetic dataset, the real chest DICOM from pydicom-data, the dev sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Under pytest-xdist (make test: TEST_WORKERS), each worker gets its share of the cores, for itself and the
# commands it runs, so that the workers do not fight over the same cores.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    THREADS = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
    torch.set_num_threads(THREADS)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (64 px) in both layouts, made once per test session."""
    from monai_ext.tools.synthetic import write_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(root, n_seg=15, n_cls=30, size=64, seed=3)
    return root


@pytest.fixture(scope="session")
def rg1_paths() -> dict[str, Path]:
    """The real chest CR of pydicom-data: uncompressed, JPEG 2000 lossless and lossy."""
    from pydicom.data import get_testdata_file

    return {name: Path(get_testdata_file(f"RG1_{name}.dcm")) for name in ("UNCR", "J2KR", "J2KI")}


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test when this checkout has none beside it."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is not present beside this checkout")
    return path


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def run_cli(args: list[str], cwd: Path = REPO, timeout: int = 600, env: dict[str, str] | None = None) -> str:
    """Run a command the way a user types it (``env`` adds variables); fail the test with its output when it fails."""
    import subprocess
    import sys

    cmd = [sys.executable if a == "python" else a for a in args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{output[-6000:]}")
    return output


@pytest.fixture
def seg_bundle(tmp_path) -> Path:
    """A copy of the segmentation bundle (configs, docs, LICENSE, large_files.yml; no weights, no outputs)."""
    from checkout import bundle_source

    return bundle_source("cxr_lung_segmentation", tmp_path)


@pytest.fixture(scope="session")
def seg_models(synthetic_root, tmp_path_factory) -> Path:
    """Segmentation weights of one short training run (32 px, 1 epoch) through the bundle's CLI."""
    from monai_ext.tools.data_lists import build_covid_qu_ex, write_datalist

    work = tmp_path_factory.mktemp("seg-models")
    write_datalist(build_covid_qu_ex(synthetic_root / "lung-seg"), work / "seg.json")
    train = REPO / "bundles" / "cxr_lung_segmentation" / "configs" / "train.json"
    run_cli(
        ["python", "-m", "monai.bundle", "run", "training", "--config_file", str(train),
         "--dataset_dir", str(synthetic_root / "lung-seg"), "--datalist", str(work / "seg.json"),
         "--output_dir", str(work / "train"), "--ckpt_dir", str(work / "models"), "--image_size", "32",
         "--batch_size", "4", "--max_epochs", "1", "--num_workers", "0"]
    )  # fmt: skip
    return work / "models"


@pytest.fixture(scope="session")
def cls_models(synthetic_root, tmp_path_factory) -> Path:
    """A classifier (ResNet50, cxr, 32 px, 1 epoch) trained through the bundle's CLI, with its calibration and gate."""
    from monai_ext.tools.data_lists import build_covidx, write_datalist

    work = tmp_path_factory.mktemp("cls-models")
    datalist = build_covidx(synthetic_root / "covidx", classes="binary", val_fraction=0.2, seed=0,
                            masks=synthetic_root / "covidx-lung-gt")  # fmt: skip
    write_datalist(datalist, work / "cls.json")
    train = REPO / "bundles" / "cxr_covid_classification" / "configs" / "train.json"
    run_cli(
        ["python", "-m", "monai.bundle", "run", "training", "--config_file", str(train),
         "--dataset_dir", str(synthetic_root / "covidx"), "--mask_dir", str(synthetic_root / "covidx-lung-gt"),
         "--datalist", str(work / "cls.json"), "--output_dir", str(work / "train"), "--ckpt_dir", str(work / "models"),
         "--input_mode", "cxr", "--image_size", "32", "--batch_size", "8", "--max_epochs", "1", "--num_workers", "0"]
    )  # fmt: skip
    return work / "models"
