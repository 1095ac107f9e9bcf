"""The lung segmentation bundle through its documented CLI: train, resume, evaluate, infer, export, checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli
from PIL import Image

from monai_ext.bundle import write_model_settings
from monai_ext.networks import FPNDenseNet121
from monai_ext.tools.data_lists import build_covid_qu_ex, write_datalist
from monai_ext.utils import file_sha256

BUNDLE = REPO / "bundles" / "cxr_lung_segmentation"
CONFIGS = BUNDLE / "configs"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(synthetic_root, tmp_path_factory, rg1_paths):
    """One epoch of training from the repo root, then one resumed epoch from inside the bundle."""
    work = tmp_path_factory.mktemp("seg")
    datalist = work / "seg.json"
    write_datalist(build_covid_qu_ex(synthetic_root / "lung-seg"), datalist)
    common = [
        "--dataset_dir",
        str(synthetic_root / "lung-seg"),
        "--datalist",
        str(datalist),
        "--output_dir",
        str(work / "train"),
        "--ckpt_dir",
        str(work / "models"),
        "--image_size",
        "64",
        "--batch_size",
        "4",
        "--num_workers",
        "0",
    ]
    first = run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "training",
            "--config_file",
            str(CONFIGS / "train.json"),
            "--max_epochs",
            "1",
            *common,
        ]
    )
    second = run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "training",
            "--config_file",
            "configs/train.json",
            "--max_epochs",
            "2",
            *common,
        ],
        cwd=BUNDLE,
    )
    return {"work": work, "datalist": datalist, "logs": (first, second), "common": common}


def test_training_writes_best_model_and_resumes(trained):
    first, second = trained["logs"]
    work = trained["work"]
    assert "training starts fresh" in first and "val_mean_dice" in first
    assert "resuming from" in second and "Epoch[2] Metrics" in second and "Epoch[1] Metrics" not in second
    assert (work / "models" / "model.pt").is_file()
    assert (work / "train" / "checkpoint_epoch=2.pt").is_file()
    state = torch.load(work / "models" / "model.pt", map_location="cpu", weights_only=True)
    FPNDenseNet121().load_state_dict(state)  # the best checkpoint is a plain state dict of the network
    assert not list((work / "models").glob("*.tmp*"))
    settings = json.loads((work / "models" / "settings.json").read_text())
    # how to use the model, and which weights it describes
    assert {k: settings[k] for k in ("bundle", "image_size", "model_sha256")} == {
        "bundle": "cxr_lung_segmentation",
        "image_size": 64,
        "model_sha256": file_sha256(work / "models" / "model.pt"),
    }
    assert settings["validation"]["metric"] == "val_mean_dice" and settings["training_data"]["splits"]["training"]["n"]


def test_evaluate_writes_csv_and_json(trained, synthetic_root):
    out = trained["work"] / "eval"
    run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "evaluating",
            "--config_file",
            f"['{CONFIGS / 'train.json'}','{CONFIGS / 'evaluate.json'}']",
            *trained["common"],
            "--output_dir",
            str(out),
            "--eval_split",
            "test",
        ]
    )
    summary = json.loads((out / "metrics_summary.json").read_text())
    assert set(summary["metrics"]) == {"val_mean_dice", "val_mean_iou", "val_hd95"}
    assert summary["n_images"] == 3 and 0.0 <= summary["metrics"]["val_mean_dice"] <= 1.0
    rows = (out / "val_mean_dice_raw.csv").read_text().splitlines()
    assert rows[0].startswith("filename") and len(rows) == 4 and "Test" in rows[1]
    # Dice per class of the data list (normal against diseased lungs), each from its own images
    by_class = summary["per_group"]["val_mean_dice"]
    dice = {row.split(",")[0]: float(row.split(",")[-1]) for row in rows[1:]}
    for name, group in by_class.items():
        mine = [v for path, v in dice.items() if f"/{name}/" in path]
        assert group["n"] == len(mine) > 0 and group["value"] == pytest.approx(np.mean(mine), abs=1e-4)
        assert group["ci95"][0] <= group["value"] <= group["ci95"][1]
    assert sum(g["n"] for g in by_class.values()) == 3 and summary["group_by"] == "class_name"


def _inputs(tmp_path: Path, synthetic_root: Path, rg1: Path) -> Path:
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(
        synthetic_root / "lung-seg" / "Test" / "Normal" / "images" / "Normal (13).png", folder / "sub" / "a.png"
    )
    shutil.copy(rg1, folder / "RG1_UNCR.dcm")
    dicoms = sorted((synthetic_root / "covidx" / "train").glob("*.dcm"))
    shutil.copy(dicoms[0], folder / "synthetic.dcm")
    (folder / "notes.png").write_text("not an image")
    return folder


def test_inference_writes_masks_named_after_inputs(trained, synthetic_root, rg1_paths, tmp_path):
    folder = _inputs(tmp_path, synthetic_root, rg1_paths["UNCR"])
    out = tmp_path / "masks"
    # a copy of the model folder that says 72 px (the network is fully convolutional): inference reads it
    models = tmp_path / "models"
    shutil.copytree(trained["work"] / "models", models)
    write_model_settings({"bundle": "cxr_lung_segmentation", "image_size": 72}, models)
    log = run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            str(CONFIGS / "inference.json"),
            "--dataset_dir",
            str(folder),
            "--output_dir",
            str(out),
            "--ckpt_dir",
            str(models),
            "--num_workers",
            "0",
        ]
    )  # image_size 72 (the model folder says so) is padded to 96 and cropped back
    assert "notes.png" in log and "unknown format" in log
    expected = {"sub/a.png": (64, 64), "RG1_UNCR.png": (1955, 1841), "synthetic.png": (64, 64)}
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == sorted(expected)
    for name, shape in expected.items():
        img = Image.open(out / name)
        assert img.mode == "L" and img.size[::-1] == shape
        assert set(np.unique(np.asarray(img))) <= {0, 255}


def test_export_torchscript_gives_the_same_masks(trained, synthetic_root, rg1_paths, tmp_path):
    models = trained["work"] / "models"
    ts = models / "model.ts"
    run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "ckpt_export",
            "network_def",
            "--filepath",
            str(ts),
            "--ckpt_file",
            str(models / "model.pt"),
            "--meta_file",
            str(CONFIGS / "metadata.json"),
            "--config_file",
            str(CONFIGS / "inference.json"),
        ]
    )
    scripted = torch.jit.load(str(ts), map_location="cpu")
    net = FPNDenseNet121()
    net.load_state_dict(torch.load(models / "model.pt", map_location="cpu", weights_only=True))
    net.eval()
    x = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x), atol=1e-5, rtol=1e-4)
    folder = _inputs(tmp_path, synthetic_root, rg1_paths["UNCR"])
    common = ["--dataset_dir", str(folder), "--ckpt_dir", str(models), "--image_size", "64", "--num_workers", "0"]
    run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            str(CONFIGS / "inference.json"),
            "--output_dir",
            str(tmp_path / "a"),
            *common,
        ]
    )
    run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            str(CONFIGS / "inference.json"),
            "--output_dir",
            str(tmp_path / "b"),
            *common,
            "--network_def",
            f"$torch.jit.load('{ts}')",
            "--handlers",
            "[]",
        ]
    )
    for mask in (tmp_path / "a").rglob("*.png"):
        twin = tmp_path / "b" / mask.relative_to(tmp_path / "a")
        np.testing.assert_array_equal(np.asarray(Image.open(mask)), np.asarray(Image.open(twin)))


def test_monai_bundle_checks(tmp_path):
    from monai.bundle import ConfigWorkflow

    for config, kind in (("train.json", "train"), ("inference.json", "infer")):
        workflow = ConfigWorkflow(
            config_file=str(CONFIGS / config),
            workflow_type=kind,
            meta_file=str(CONFIGS / "metadata.json"),
            logging_file=str(CONFIGS / "logging.conf"),
            output_dir=str(tmp_path / "out"),
            ckpt_dir=str(tmp_path / "models"),
        )
        workflow.initialize()
        assert workflow.check_properties() == [], config
    log = run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "verify_net_in_out",
            "network_def",
            "--meta_file",
            str(CONFIGS / "metadata.json"),
            "--config_file",
            str(CONFIGS / "inference.json"),
            "--n",
            "2",
        ]
    )
    assert "data shape of network is verified with no error" in log


def test_network_shapes_and_pretrained_switch():
    net = FPNDenseNet121(in_channels=1, out_channels=1, pretrained=False)
    assert net(torch.rand(1, 1, 96, 64)).shape == (1, 1, 96, 64)
    with pytest.raises(ValueError, match="2-D only"):
        FPNDenseNet121(spatial_dims=3)
