"""The model card training writes beside the weights (models/MODEL_CARD.md) and what it rests on: the
training data's summary in settings.json, the validation figures with their intervals."""

from __future__ import annotations

import json

import pytest

from monai_ext.bundle import read_model_folder, training_data_summary, write_model_card
from monai_ext.constants import MODEL_CARD_FILE
from monai_ext.utils import file_sha256

pytestmark = pytest.mark.slow


def test_classification_card_has_data_validation_calibration_and_gate(cls_models):
    settings = json.loads((cls_models / "settings.json").read_text())
    data = settings["training_data"]
    datalist = cls_models.parent / "cls.json"
    assert data["datalist_sha256"] == file_sha256(datalist)
    items = json.loads(datalist.read_text())
    for split in ("training", "validation", "test"):
        assert data["splits"][split]["n"] == len(items[split])
        assert sum(data["splits"][split]["classes"].values()) == len(items[split])
    model = read_model_folder(cls_models, "cxr_covid_classification")  # the folder stays valid
    figures = model.calibration["validation"]
    assert figures["accuracy"]["n"] == model.calibration["n_validation"]
    low, high = figures["accuracy"]["ci95"]
    assert low <= figures["accuracy"]["value"] <= high
    card = (cls_models / MODEL_CARD_FILE).read_text()
    assert "not a medical device" in card and data["datalist_sha256"] in card
    n_train = data["splits"]["training"]["n"]
    assert f"| training | {n_train} |" in card
    assert f"accuracy (argmax, calibrated): {figures['accuracy']['value']:.3f} (95% CI {low:.3f}-{high:.3f})" in card
    assert f"threshold {model.gate['threshold']:.3f}" in card
    assert f"temperature {model.calibration['temperature']:.3f}" in card


def test_segmentation_card_has_the_best_validation_dice_with_its_interval(seg_models):
    settings = json.loads((seg_models / "settings.json").read_text())
    val = settings["validation"]
    assert val["metric"] == "val_mean_dice" and val["epoch"] == 1 and val["n"] >= 1
    assert val["ci95"][0] <= val["value"] <= val["ci95"][1]
    card = (seg_models / MODEL_CARD_FILE).read_text()
    assert f"best val_mean_dice: {val['value']:.4f}" in card and "Calibration" not in card


def test_the_card_is_rendered_from_the_folder_alone_with_the_probe_verdict(cls_models, tmp_path):
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(cls_models, folder)
    verdict = "no_lung accuracy 0.95: the classes are told apart outside the lungs (a shortcut)"
    write_model_card(folder, "cxr_covid_classification", shortcut=verdict)
    assert verdict in (folder / MODEL_CARD_FILE).read_text()
    assert (
        training_data_summary(cls_models.parent / "cls.json")
        == json.loads((folder / "settings.json").read_text())["training_data"]
    )
