"""The whole study in its real profile on the real development sample (../shared/data/cxr-dev), shortened:
every step of `make reproduce PROFILE=real` end to end on real pixels (about two minutes on 2 cores, so
`make integration` runs it, CXR_INTEGRATION=1; the tiny profile's study runs in `make test`)."""

from __future__ import annotations

import json
import os

import pytest

from monai_ext.tools.reproduce.__main__ import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("CXR_INTEGRATION"), reason="make integration runs this (CXR_INTEGRATION=1)"),
]


def test_real_profile_runs_end_to_end_on_the_real_development_sample(tmp_path):
    from conftest import shared_data

    dev = shared_data("cxr-dev")
    out = tmp_path / "real"
    quick = ["seg#max_epochs=1", "seg#image_size=64", "cls#max_epochs=1", "cls#image_size=32", "n_bootstrap=50"]
    quick += ["shortcut#n=40", "shortcut#size=64"]
    quick += ["gate=null", "shortcut#recalibrate=null"]  # both run in the tiny profile's study
    offline = ["seg#pretrained=false", "cls#pretrained=false"]
    argv = ["--profile", "real", "--qu-ex", str(dev / "lung-seg"), "--covidx", str(dev / "covidx")]
    assert main([*argv, "--out", str(out), "--backbones", "resnet50", "--set", *quick, *offline]) == 0
    summary = (out / "summary.md").read_text()
    assert "Synthetic data" not in summary  # both datasets given: real pixels
    assert "64 px, up to 1 epochs" in summary and "ImageNet" not in summary.split("## Settings")[1].split("##")[0]
    lists = json.loads((out / "lists" / "covidx.json").read_text())
    assert {len(lists[s]) > 0 for s in ("training", "validation", "test")} == {True}
    results = json.loads((out / "results.json").read_text())
    assert set(results["classification"]) == {"resnet50/cxr", "resnet50/lung", "resnet50/no_lung"}
    assert results["segmentation"]["dice"]["n"] > 0
    assert set(results["shortcut"]["runs"]) == {"resnet50_cxr", "resnet50_lung"}
    assert "leave_one_source_out" not in results  # the sample has one source: nothing to hold out
    assert "no source qualifies" in summary
