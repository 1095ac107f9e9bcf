"""A model folder says how to use it, and is never trusted blindly: every file is read once and checked against
its schema and against the others (class names in every file, the calibration's and settings' weights hash,
ranges and types), every problem reported at once with the file, the field, the value and what is allowed."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO

from monai_ext.bundle import (
    ModelSettingsError,
    inference_parser,
    read_model_folder,
    write_class_names,
    write_model_settings,
)
from monai_ext.constants import CALIBRATION_FILE, CLASSES_FILE, SETTINGS_FILE
from monai_ext.utils import file_sha256, write_json

CLS = "cxr_covid_classification"
SEG = "cxr_lung_segmentation"


@pytest.fixture
def folder(tmp_path):
    """A valid classification model folder: weights, settings, class names and calibration, all consistent."""
    torch.save({"w": torch.zeros(3)}, tmp_path / "model.pt")
    digest = file_sha256(tmp_path / "model.pt")
    names = ["negative", "positive"]
    settings = {"bundle": CLS, "backbone": "resnet50", "input_mode": "lung", "crop_to_lung": False, "image_size": 96}
    write_model_settings({**settings, "class_names": names, "model_sha256": digest}, tmp_path)
    write_class_names(names, tmp_path)
    write_json(
        {"class_names": names, "positive_class": "positive", "temperature": 1.3, "threshold": 0.4,
         "model_sha256": digest},
        tmp_path / CALIBRATION_FILE,
    )  # fmt: skip
    return tmp_path


def _edit(folder, name, **changes):
    content = json.loads((folder / name).read_text())
    content.update(changes)
    (folder / name).write_text(json.dumps(content))


def _problems(folder, bundle=CLS) -> str:
    with pytest.raises(ModelSettingsError) as raised:
        read_model_folder(folder, bundle)
    return str(raised.value)


def test_a_consistent_folder_reads_and_gives_its_settings(folder):
    model = read_model_folder(folder, CLS)
    assert model.setting("image_size", 224) == 96 and model.setting("patience", 5) == 5
    assert model.classes() == ["negative", "positive"] and model.calibration["threshold"] == 0.4
    model.check_given(image_size=96, input_mode="lung", patience=3)  # not saved: not checked
    with pytest.raises(ModelSettingsError) as raised:
        model.check_given(image_size=224, input_mode="cxr")
    message = str(raised.value)
    assert str(folder / SETTINGS_FILE) in message
    assert "image_size=224 given, the model was trained with image_size=96" in message
    assert "input_mode='cxr' given, the model was trained with input_mode='lung'" in message


def test_an_empty_folder_falls_back_to_the_defaults(tmp_path):
    model = read_model_folder(tmp_path, SEG)
    assert model.settings == {} and model.setting("image_size", 256) == 256
    assert model.calibration == {"temperature": 1.0, "threshold": None, "positive_class": None}
    with pytest.raises(ModelSettingsError, match="no class names beside the weights"):
        model.classes()


def test_swapped_class_names_are_refused_not_inverted(folder):
    write_class_names(["positive", "negative"], folder)
    message = _problems(folder)
    assert "the class names differ between the model's files" in message
    assert f"{folder / CLASSES_FILE} ['positive', 'negative']" in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"threshold": 5}, "threshold = 5: must be at most 1"),
        ({"threshold": -1}, "threshold = -1: must be at least 0"),
        ({"threshold": "0.5"}, 'threshold = "0.5": must be a number or null'),
        ({"temperature": 1e6}, "temperature = 1000000.0: must be at most 20.0"),
        ({"temperature": 0}, "temperature = 0: must be at least 0.05"),
        ({"temperature": "inf"}, 'temperature = "inf": must be a number'),
        ({"positive_class": "negative"}, 'positive_class = "negative": must be the last class, "positive"'),
        ({"model_sha256": "0" * 64}, "model_sha256 = 0000000000000000...: was written for other weights"),
    ],
)
def test_calibration_values_outside_what_is_allowed_are_refused(folder, changes, expected):
    _edit(folder, CALIBRATION_FILE, **changes)
    message = _problems(folder)
    assert str(folder / CALIBRATION_FILE) in message and expected in message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_numbers_json_does_not_allow_are_refused(folder, token):
    text = (folder / CALIBRATION_FILE).read_text().replace('"temperature": 1.3', f'"temperature": {token}')
    (folder / CALIBRATION_FILE).write_text(text)
    assert f"not a readable JSON file ({token} is not a number JSON allows)" in _problems(folder)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"image_size": 0}, "image_size = 0: must be at least 32"),
        ({"image_size": -5}, "image_size = -5: must be at least 32"),
        ({"image_size": 40000}, "image_size = 40000: must be at most 2048"),
        ({"image_size": 96.5}, "image_size = 96.5: must be an integer"),
        ({"crop_to_lung": "false"}, 'crop_to_lung = "false": must be a boolean'),
        ({"backbone": "alexnet"}, "backbone = \"alexnet\": must be one of ['resnet50', 'vgg19_bn', 'efficientnet_b7']"),
        ({"input_mode": "lungs"}, "input_mode = \"lungs\": must be one of ['cxr', 'lung', 'no_lung']"),
        ({"bundle": SEG}, f'bundle = "{SEG}": this is a model of another bundle, not of {CLS}'),
    ],
)
def test_settings_outside_what_the_networks_accept_are_refused(folder, changes, expected):
    _edit(folder, SETTINGS_FILE, **changes)
    message = _problems(folder)
    assert str(folder / SETTINGS_FILE) in message and expected in message


def test_every_problem_is_reported_at_once(folder):
    _edit(folder, SETTINGS_FILE, image_size=0, crop_to_lung="no")
    _edit(folder, CALIBRATION_FILE, threshold=7)
    (folder / CLASSES_FILE).write_text("{not json")
    message = _problems(folder)
    assert "(4 problems)" in message
    for expected in ("image_size = 0", 'crop_to_lung = "no"', "threshold = 7", "classes.json: not a readable JSON"):
        assert expected in message


def test_replaced_weights_are_refused_by_both_hashes(folder):
    torch.save({"w": torch.ones(3)}, folder / "model.pt")
    message = _problems(folder)
    assert (
        f"{folder / SETTINGS_FILE}: model_sha256" in message and f"{folder / CALIBRATION_FILE}: model_sha256" in message
    )


def test_a_three_class_model_has_no_threshold(folder):
    names = ["normal", "pneumonia", "COVID-19"]
    write_class_names(names, folder)
    _edit(folder, SETTINGS_FILE, class_names=names)
    _edit(folder, CALIBRATION_FILE, class_names=names, positive_class=None)
    assert "threshold = 0.4: a model of 3 classes has none (null)" in _problems(folder)


@pytest.mark.parametrize("bundle", [SEG, CLS])
def test_inference_and_evaluation_read_the_model_folder_and_refuse_contradictions(bundle, tmp_path):
    from monai.bundle import ConfigParser

    configs = REPO / "bundles" / bundle / "configs"
    saved = {"bundle": bundle, "image_size": 96}
    if bundle == CLS:
        saved |= {"backbone": "vgg19_bn", "input_mode": "no_lung", "crop_to_lung": True}
    write_model_settings(saved, tmp_path)
    for config in ("inference", "evaluate"):
        parser = inference_parser(REPO / "bundles" / bundle) if config == "inference" else ConfigParser()
        if config == "evaluate":
            parser.read_config([str(configs / "train.json"), str(configs / "evaluate.json")])
        parser["ckpt_dir"] = str(tmp_path)
        parser["output_dir"] = str(tmp_path / "out")
        for name, value in saved.items():
            if name != "bundle":
                assert parser.get_parsed_content(name) == value, (config, name)
        parser.get_parsed_content("initialize")  # the check passes with the model's own settings
        parser["image_size"] = 224
        with pytest.raises(RuntimeError) as raised:
            parser.get_parsed_content("initialize", lazy=False)
        assert "image_size=224 given, the model was trained with image_size=96" in str(raised.value.__cause__)
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == saved


def test_an_invalid_model_folder_stops_inference_before_any_image_is_read(folder, tmp_path):
    from monai.bundle import ConfigWorkflow

    _edit(folder, CALIBRATION_FILE, threshold=5)
    configs = REPO / "bundles" / CLS / "configs"
    workflow = ConfigWorkflow(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        workflow_type="infer",
        ckpt_dir=str(folder),
        dataset_dir=str(tmp_path / "no-such-folder"),  # never reached
        output_dir=str(tmp_path / "out"),
    )
    with pytest.raises(RuntimeError) as raised:
        workflow.initialize()
    assert "threshold = 5: must be at most 1" in str(raised.value.__cause__)
    assert not (tmp_path / "out").exists()  # the output folder was not even claimed


def test_a_setting_the_folder_lacks_comes_from_the_bundles_defaults_or_is_refused(tmp_path):
    from monai_ext.bundle import ModelSettingsError, read_model_folder

    folder = read_model_folder(tmp_path, "cxr_covid_classification")  # an empty folder: no settings.json
    assert folder.setting("image_size") == 224 and folder.setting("input_mode") == "lung"
    assert folder.setting("image_size", 96) == 96  # a default of the caller's own wins
    with pytest.raises(ModelSettingsError, match="no patience recorded"):
        folder.setting("patience")
