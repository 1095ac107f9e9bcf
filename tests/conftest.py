"""Shared fixtures: a tiny synthetic dataset, the real chest DICOM from pydicom-data, the dev sample."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (64 px) in both layouts, made once per test session."""
    from monai_ext.synthetic import write_synthetic_dataset

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
    import os
    import subprocess
    import sys

    cmd = [sys.executable if a == "python" else a for a in args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{output[-6000:]}")
    return output


@pytest.fixture
def seg_bundle(tmp_path) -> Path:
    """A copy of the segmentation bundle (configs, docs, LICENSE, large_files.yml; no weights, no outputs)."""
    import shutil

    out = tmp_path / "cxr_lung_segmentation"
    shutil.copytree(
        REPO / "bundles" / "cxr_lung_segmentation", out, ignore=shutil.ignore_patterns("*.pt", "*.ts", "eval")
    )
    return out
