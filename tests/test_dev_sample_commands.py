"""The classification bundle's documented run on the real development sample, as its docs write it.

The docs give two lines typed in the checkout's folder, with the sample beside it (``../shared``): the
data list, then the training. The test types them in a copy of the bundle laid out the same way; the
training is shortened by the bundle's own ``--max_epochs`` and ``--image_size`` (the docs' run is 321 s).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from checkout import bundle_source
from conftest import run_cli, shared_data
from documented import command

from monai_ext import constants as mf

SHORTER = " --max_epochs 1 --image_size 64 --num_workers 0"


def _bash(text: str, cwd: Path) -> None:
    """``text`` typed into bash in ``cwd``, ``python`` being this environment's."""
    run_cli(
        ["bash", "-c", text], cwd=cwd, env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    )


@pytest.mark.slow
def test_the_dev_sample_training_runs_as_documented(tmp_path):
    sample = shared_data("cxr-dev")
    checkout = tmp_path / "checkout"
    bundle = bundle_source("cxr_covid_classification", checkout / "bundles")
    (tmp_path / "shared").symlink_to(sample.parent.parent)

    _bash(command("python -m monai_ext.tools.data_lists covidx --root ../shared/data/cxr-dev/covidx").text, checkout)
    datalist = json.loads((checkout / "dev_covidx.json").read_text())
    assert [len(datalist[split]) for split in ("training", "validation", "test")] == [175, 33, 43]  # the docs' counts
    train_patients = {row["patient_id"] for row in datalist["training"]}
    assert not train_patients & {row["patient_id"] for row in datalist["validation"]}

    training = command(
        "python -m monai.bundle run training --config_file bundles/cxr_covid_classification/configs/train.json "
        "--dataset_dir ../shared/data/cxr-dev/covidx"
    )
    _bash(training.text + SHORTER, checkout)
    settings = json.loads((bundle / "models" / mf.SETTINGS_FILE).read_text())
    assert (settings["backbone"], settings["input_mode"], settings["image_size"]) == ("resnet50", "cxr", 64)
    assert settings["training_data"]["splits"]["training"]["n"] == 175
    assert (bundle / "models" / mf.MODEL_FILE).stat().st_size > 1e7
