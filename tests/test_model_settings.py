"""A model folder says how to use it: settings saved beside the weights, read as defaults, and a
contradicting value refused with both values and the file named."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

from monai_ext.bundle import (
    SETTINGS_FILE,
    ModelSettingsError,
    check_model_settings,
    inference_parser,
    model_setting,
    read_model_settings,
    write_model_settings,
)


def test_settings_round_trip_defaults_and_conflicts(tmp_path):
    assert read_model_settings(tmp_path) == {} and model_setting(tmp_path, "image_size", 224) == 224
    check_model_settings(tmp_path, image_size=99)  # no settings file: nothing to contradict
    write_model_settings({"bundle": "b", "image_size": 128, "input_mode": "lung"}, tmp_path)
    assert model_setting(tmp_path, "image_size", 224) == 128 and model_setting(tmp_path, "backbone", "x") == "x"
    check_model_settings(tmp_path, image_size=128, input_mode="lung", backbone="anything")  # not saved: not checked
    with pytest.raises(ModelSettingsError) as raised:
        check_model_settings(tmp_path, image_size=224, input_mode="cxr")
    message = str(raised.value)
    assert str(tmp_path / SETTINGS_FILE) in message
    assert "image_size=224 given, the model was trained with image_size=128" in message
    assert "input_mode='cxr' given, the model was trained with input_mode='lung'" in message
    (tmp_path / SETTINGS_FILE).write_text("[1, 2]")
    with pytest.raises(ModelSettingsError, match="expected a JSON object"):
        read_model_settings(tmp_path)


@pytest.mark.parametrize("bundle", ["cxr_lung_segmentation", "cxr_covid_classification"])
def test_inference_and_evaluation_read_the_model_folder_and_refuse_contradictions(bundle, tmp_path):
    from monai.bundle import ConfigParser

    configs = REPO / "bundles" / bundle / "configs"
    saved = {"bundle": bundle, "image_size": 96}
    if bundle == "cxr_covid_classification":
        saved |= {"backbone": "vgg19_bn", "input_mode": "no_lung", "crop_to_lung": True}
    write_model_settings(saved, tmp_path)
    for config in ("inference", "evaluate"):
        parser = inference_parser(REPO / "bundles" / bundle) if config == "inference" else ConfigParser()
        if config == "evaluate":
            parser.read_config([str(configs / "train.json"), str(configs / "evaluate.json")])
        parser["ckpt_dir"] = str(tmp_path)
        for name, value in saved.items():
            if name != "bundle":
                assert parser.get_parsed_content(name) == value, (config, name)
        parser.get_parsed_content("initialize")  # the check passes with the model's own settings
        parser["image_size"] = 224
        with pytest.raises(RuntimeError) as raised:
            parser.get_parsed_content("initialize", lazy=False)
        assert "image_size=224 given, the model was trained with image_size=96" in str(raised.value.__cause__)
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == saved
