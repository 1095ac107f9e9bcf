"""The COVID-19 classification bundle through its documented CLI: three backbones, three input modes,
binary and 3-class, evaluation with intervals, inference on raw files with on-the-fly lung masks."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
from conftest import REPO, run_cli
from PIL import Image

from monai_ext.bundle import write_model_settings
from monai_ext.gate import MAX_TTA_DISAGREEMENT
from monai_ext.networks import FPNDenseNet121, TorchVisionClassifier
from monai_ext.tools.data_lists import build_covidx, write_datalist
from monai_ext.transforms import LoadCXR
from monai_ext.utils import file_sha256

BUNDLE = REPO / "bundles" / "cxr_covid_classification"
CONFIGS = BUNDLE / "configs"
TRAIN = str(CONFIGS / "train.json")
pytestmark = pytest.mark.slow


def _train(
    work, synthetic_root, classes: str, backbone: str, mode: str, epochs: int = 1, per_split: int | None = None
) -> dict:
    """Train through the bundle's CLI; ``per_split`` keeps about that many images of each split (every n-th:
    each class stays in)."""
    datalist = work / f"{classes}{per_split or ''}.json"
    if not datalist.exists():
        dl = build_covidx(
            synthetic_root / "covidx",
            classes=classes,
            val_fraction=0.2,
            seed=0,
            masks=synthetic_root / "covidx-lung-gt",
        )
        if per_split:
            dl |= {s: dl[s][:: max(1, len(dl[s]) // per_split)] for s in ("training", "validation", "test")}
        write_datalist(dl, datalist)
    run = work / f"{backbone}-{mode}-{classes}"
    args = [
        "--dataset_dir",
        str(synthetic_root / "covidx"),
        "--mask_dir",
        str(synthetic_root / "covidx-lung-gt"),
        "--datalist",
        str(datalist),
        "--output_dir",
        str(run / "train"),
        "--ckpt_dir",
        str(run / "models"),
        "--backbone",
        backbone,
        "--input_mode",
        mode,
        "--image_size",
        "32",
        "--batch_size",
        "8",
        "--num_workers",
        "0",
    ]
    log = run_cli(
        ["python", "-m", "monai.bundle", "run", "training", "--config_file", TRAIN, "--max_epochs", str(epochs), *args]
    )
    return {"run": run, "args": args, "log": log, "datalist": datalist}


@pytest.fixture(scope="module")
def resnet_lung(synthetic_root, tmp_path_factory):
    return _train(tmp_path_factory.mktemp("cls"), synthetic_root, "binary", "resnet50", "lung", epochs=2)


def test_resnet50_lung_binary_trains_and_checkpoints(resnet_lung):
    run, log = resnet_lung["run"], resnet_lung["log"]
    assert "val_auc" in log and "val_accuracy" in log
    assert json.loads((run / "models" / "classes.json").read_text()) == ["negative", "positive"]
    state = torch.load(run / "models" / "model.pt", map_location="cpu", weights_only=True)
    TorchVisionClassifier("resnet50", 2).load_state_dict(state)
    assert (run / "train" / "checkpoint_epoch=2.pt").is_file()


@pytest.mark.parametrize(
    ("backbone", "mode", "classes"), [("vgg19_bn", "no_lung", "3class"), ("efficientnet_b7", "cxr", "binary")]
)
def test_other_backbones_modes_and_3class(synthetic_root, tmp_path, backbone, mode, classes):
    # 24 images of each split: that the recipe trains, saves and loads is all this test asks
    out = _train(tmp_path, synthetic_root, classes, backbone, mode, per_split=24)
    names = json.loads((out["run"] / "models" / "classes.json").read_text())
    assert names == (["normal", "pneumonia", "COVID-19"] if classes == "3class" else ["negative", "positive"])
    state = torch.load(out["run"] / "models" / "model.pt", map_location="cpu", weights_only=True)
    TorchVisionClassifier(backbone, len(names)).load_state_dict(state)


def test_evaluate_reports_intervals_per_source(resnet_lung):
    out = resnet_lung["run"] / "eval"
    run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "evaluating",
            "--config_file",
            f"['{TRAIN}','{CONFIGS / 'evaluate.json'}']",
            *resnet_lung["args"],
            "--output_dir",
            str(out),
            "--eval_split",
            "test",
            "--n_bootstrap",
            "200",
            "--saliency",
            "True",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["overall"]
    test_items = json.loads(resnet_lung["datalist"].read_text())["test"]
    assert overall["n"] == len(test_items)
    low, high = overall["accuracy"]["ci95"]
    assert low <= overall["accuracy"]["value"] <= high
    assert set(overall["per_class"]) == {"negative", "positive"}
    for figure in ("sensitivity", "specificity", "precision"):
        assert len(overall["per_class"]["positive"][figure]["ci95"]) == 2
    assert set(metrics["per_source"]) == {i["source"] for i in test_items}
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert len(rows) == len(test_items) and {"prob_negative", "prob_positive", "predicted", "true"} <= set(rows[0])
    assert abs(float(rows[0]["prob_negative"]) + float(rows[0]["prob_positive"]) - 1) < 1e-4
    table = list(csv.DictReader((out / "metrics.csv").open()))
    assert {"overall", *{f"source={s}" for s in metrics["per_source"]}} == {r["scope"] for r in table}
    # the decision at the threshold fitted on validation, and calibration before and after scaling
    calibration = json.loads((resnet_lung["run"] / "models" / "calibration.json").read_text())
    at = overall["at_threshold"]
    assert at["threshold"] == calibration["threshold"] and set(at) >= {"accuracy", "sensitivity", "specificity"}
    positive = [r["true"] == "positive" for r in rows]
    called = [float(r["prob_positive"]) >= calibration["threshold"] for r in rows]
    assert [r["decision"] == "positive" for r in rows] == called
    assert at["sensitivity"]["k"] == sum(p and c for p, c in zip(positive, called))
    figures = overall["calibration"]
    assert figures["temperature"] == calibration["temperature"] and 0 <= figures["ece"] <= 1
    # a Grad-CAM overlay per test image, and its share inside the lung mask (the mask on the input's grid)
    saliency = list(csv.DictReader((out / "saliency.csv").open()))
    assert [r["name"] for r in saliency] == [r["name"] for r in rows]
    for r in saliency:
        assert 0 <= float(r["in_lung"]) <= 1 and 0.05 < float(r["lung_area"]) < 0.95
        assert Image.open(out / r["map"]).size == (32, 32)
    summary = json.loads((out / "saliency.json").read_text())
    assert summary["target_layer"] == "net.layer4" and summary["overall"]["n_measured"] == len(rows)
    assert {"brier", "ece", "brier_uncalibrated", "ece_uncalibrated"} <= {r["metric"] for r in table}


def test_training_fits_temperature_and_threshold_on_validation_for_these_weights(resnet_lung):
    from monai_ext.bundle import read_model_folder

    models = resnet_lung["run"] / "models"
    calibration = read_model_folder(models).calibration
    n_validation = len(json.loads(resnet_lung["datalist"].read_text())["validation"])
    assert calibration["n_validation"] == n_validation and calibration["model_sha256"] == file_sha256(
        models / "model.pt"
    )
    assert calibration["temperature"] > 0 and 0 <= calibration["threshold"] <= 1
    assert calibration["positive_class"] == "positive" and calibration["threshold_method"] == "youden"
    assert len(calibration["threshold_ci95"]) == 2 and "calibration on" in resnet_lung["log"]


def test_calibration_of_other_weights_is_refused(resnet_lung, tmp_path):
    import shutil as sh

    from monai_ext.bundle import ModelSettingsError, read_model_folder

    other = tmp_path / "models"
    sh.copytree(resnet_lung["run"] / "models", other)
    (other / "model.pt").write_bytes((other / "model.pt").read_bytes() + b"\0")  # other bytes, same name
    with pytest.raises(ModelSettingsError, match="calibration.json: model_sha256 = .* was written for other weights"):
        read_model_folder(other)


def test_training_leaves_the_settings_the_model_needs_beside_it(resnet_lung):
    settings = json.loads((resnet_lung["run"] / "models" / "settings.json").read_text())
    classes = json.loads((resnet_lung["run"] / "models" / "classes.json").read_text())
    assert {k: v for k, v in settings.items() if k not in ("validation", "training_data")} == {
        "bundle": "cxr_covid_classification",
        "backbone": "resnet50",
        "input_mode": "lung",
        "crop_to_lung": False,
        "image_size": 32,
        "class_names": classes,
        "model_sha256": file_sha256(resnet_lung["run"] / "models" / "model.pt"),
    }


def test_inference_on_raw_files_with_on_the_fly_masks(resnet_lung, synthetic_root, rg1_paths, tmp_path):
    seg = tmp_path / "cxr_lung_segmentation"  # a segmentation bundle with (untrained) weights
    shutil.copytree(REPO / "bundles" / "cxr_lung_segmentation" / "configs", seg / "configs")
    (seg / "models").mkdir()
    torch.manual_seed(0)
    torch.save(FPNDenseNet121().state_dict(), seg / "models" / "model.pt")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(rg1_paths["UNCR"], inputs / "RG1_UNCR.dcm")
    shutil.copy(min((synthetic_root / "covidx" / "test").glob("*.png")), inputs / "a.png")
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "pred"
    log = run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            str(CONFIGS / "inference.json"),
            "--dataset_dir",
            str(inputs),
            "--output_dir",
            str(out),
            "--seg_bundle_dir",
            str(seg),
            "--ckpt_dir",
            str(resnet_lung["run"] / "models"),  # image_size 32 and input_mode lung come from its settings.json
            "--saliency",
            "True",
        ]
    )
    assert "broken.png" in log
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [r["name"] for r in rows] == ["RG1_UNCR.dcm", "a.png"]
    assert all(r["predicted"] in ("negative", "positive") for r in rows)
    threshold = json.loads((resnet_lung["run"] / "models" / "calibration.json").read_text())["threshold"]
    # untrained segmentation weights give no trustworthy lungs: which of the mask's checks fails first depends
    # on the random weights and the machine's arithmetic, so each abstention must name a failed check whose
    # value stands in its row; an answer is the class at the model's threshold
    for r in rows:
        if r["gate"] == "abstain":
            assert r["decision"] == "abstain" and r["abstain_reason"]
            tta = float(r["tta_disagreement"])
            assert ("disagree on the lungs" in r["abstain_reason"]) == (tta > MAX_TTA_DISAGREEMENT)
            assert any(
                words in r["abstain_reason"]
                for words in ("implausible lung mask", "lungs lying", "upside down", "inverted", "unlike the training")
            ), r["abstain_reason"]
        else:
            assert r["decision"] == ("positive" if float(r["prob_positive"]) >= threshold else "negative")
    assert {r["mask_source"] for r in rows} == {"predicted"} and all(r["tta_disagreement"] for r in rows)
    saliency = {r["name"]: r for r in csv.DictReader((out / "saliency.csv").open())}
    assert set(saliency) == {"RG1_UNCR.dcm", "a.png"}  # the broken file is reported, not mapped
    assert (out / saliency["RG1_UNCR.dcm"]["map"]).is_file()


def test_export_and_bundle_checks(resnet_lung):
    from monai.bundle import ConfigWorkflow

    models = resnet_lung["run"] / "models"
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
            "--ckpt_dir",
            str(models),
        ]
    )
    net = TorchVisionClassifier("resnet50", 2)
    net.load_state_dict(torch.load(models / "model.pt", map_location="cpu", weights_only=True))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(ts))(x), net.eval()(x), atol=1e-5, rtol=1e-4)
    scratch = {"ckpt_dir": str(models), "output_dir": str(models.parent / "checks")}  # keep the repo's bundle clean
    # inference in cxr mode: the repo's segmentation bundle has no weights here, so lung mode would skip every input;
    # a copy of the model folder says cxr (the settings it was trained with must agree with those given)
    cxr_models = models.parent / "cxr_models"
    shutil.copytree(models, cxr_models)
    settings = json.loads((models / "settings.json").read_text())
    write_model_settings({**settings, "input_mode": "cxr"}, cxr_models)
    for config, kind, extra in (
        ("train.json", "train", scratch),
        ("inference.json", "infer", {**scratch, "ckpt_dir": str(cxr_models)}),
    ):
        workflow = ConfigWorkflow(
            config_file=str(CONFIGS / config), workflow_type=kind, meta_file=str(CONFIGS / "metadata.json"), **extra
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
            "--ckpt_dir",
            str(models),
        ]
    )
    assert "verified with no error" in log


@pytest.mark.parametrize("mode", ["lung", "no_lung", "cxr"])
def test_the_input_mode_is_applied_to_the_pixels_the_network_sees(synthetic_root, tmp_path, mode):
    """The bundle's own validation preprocessing: outside the lungs (lung) or inside them (no_lung) the
    network sees exactly the normalised value of black; cxr keeps both."""
    import numpy as np
    from monai.bundle import ConfigParser
    from scipy import ndimage

    datalist = tmp_path / "binary.json"
    masks = synthetic_root / "covidx-lung-gt"
    write_datalist(
        build_covidx(synthetic_root / "covidx", classes="binary", val_fraction=0.2, seed=0, masks=masks), datalist
    )
    parser = ConfigParser()
    parser.read_config(TRAIN)
    size = 48
    parser.update(
        {
            "dataset_dir": str(synthetic_root / "covidx"),
            "mask_dir": str(masks),
            "datalist": str(datalist),
            "input_mode": mode,
            "image_size": size,
        }
    )
    item = parser.get_parsed_content("validate#dataset#data")[0]
    image = parser.get_parsed_content("validate#preprocessing")(dict(item))["image"].numpy()
    lung = LoadCXR()(item["lung"])[0].numpy() > 0.5
    lung = np.asarray(Image.fromarray(lung.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 0
    far_out = ~ndimage.binary_dilation(lung, iterations=2)  # away from the border the resizing blends
    deep_in = ndimage.binary_erosion(lung, iterations=2)
    black = (0.0 - 0.485) / 0.229  # ImageNet normalisation of channel 0
    assert far_out.any() and deep_in.any()
    outside, inside = image[0][far_out], image[0][deep_in]
    if mode == "lung":
        np.testing.assert_allclose(outside, black, atol=1e-3)  # anti-aliasing reaches a little further
        assert (inside > black + 0.1).mean() > 0.9
    elif mode == "no_lung":
        np.testing.assert_allclose(inside, black, atol=1e-3)
        assert (outside > black + 0.1).mean() > 0.5
    else:
        assert (inside > black + 0.1).mean() > 0.9 and (outside > black + 0.1).mean() > 0.5


def test_bn_momentum_sets_every_batchnorm_and_none_keeps_the_backbones():
    def momenta(net):
        return {m.momentum for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}

    assert momenta(TorchVisionClassifier("efficientnet_b7", 2)) == {0.01}  # torchvision's own
    assert momenta(TorchVisionClassifier("efficientnet_b7", 2, bn_momentum=0.1)) == {0.1}
    assert momenta(TorchVisionClassifier("vgg19_bn", 2, bn_momentum=0.3)) == {0.3}


def test_zero_init_residual_makes_each_residual_block_start_as_the_identity():
    def zeroed(net):
        return sum(bool((m.weight == 0).all()) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))

    assert zeroed(TorchVisionClassifier("efficientnet_b7", 2)) == 0
    effnet = TorchVisionClassifier("efficientnet_b7", 2, zero_init_residual=True)
    assert zeroed(effnet) == 48  # the MBConv blocks with a skip connection
    block = effnet.net.features[2][1]  # one of them: its branch adds nothing at first
    x = torch.randn(2, block.block[0][0].in_channels, 8, 8)
    assert torch.equal(block.eval()(x), x)
    assert zeroed(TorchVisionClassifier("resnet50", 2, zero_init_residual=True)) == 16  # every bottleneck
    assert zeroed(TorchVisionClassifier("vgg19_bn", 2, zero_init_residual=True)) == 0  # no residual blocks
