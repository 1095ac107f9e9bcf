"""Blocks a bundle repeats to keep each config standalone stay equal: preprocessing of training and
inference, the segmentation postprocessing of evaluation and inference."""

from __future__ import annotations

import json
import re

from conftest import REPO

SEG = REPO / "bundles" / "cxr_lung_segmentation" / "configs"
CLS = REPO / "bundles" / "cxr_covid_classification" / "configs"


#: arguments MONAI dictionary transforms take per key
PER_KEY = {"mode", "anti_aliasing", "padding_mode", "align_corners", "dtype"}


def _load(path):
    return json.loads(path.read_text())


def _image_only(transform: dict) -> dict | None:
    """A dictionary transform's settings for the ``image`` key alone (per-key lists reduced to image's entry);
    None when it does not touch the image."""
    keys = transform["keys"] if isinstance(transform["keys"], list) else [transform["keys"]]
    if "image" not in keys:
        return None
    at = keys.index("image")
    out = {}
    for name, value in transform.items():
        if name == "keys":
            out[name] = "image"
        elif name in PER_KEY and isinstance(value, list):
            out[name] = value[at]
        else:
            out[name] = value
    return out


def test_segmentation_inference_preprocesses_the_image_as_training_validation_does():
    train = [t for t in map(_image_only, _load(SEG / "train.json")["train"]["deterministic_transforms"]) if t]
    assert train == _load(SEG / "inference.json")["preprocessing"]["transforms"]


def test_segmentation_evaluation_postprocesses_as_inference_does():
    inference = _load(SEG / "inference.json")
    evaluate = _load(SEG / "evaluate.json")["validate#postprocessing"]["transforms"]
    agreement, activation = inference["postprocessing"]["transforms"][:2]
    assert (agreement["_target_"], activation["_target_"]) == (
        "monai_ext.transforms.LungMaskAgreementd",
        "Activationsd",
    )
    # inference also inverts to the input's size (Invertd) and writes files; the rest is the same, and so are
    # the test-time passes the masks are the mean of
    assert evaluate == [agreement, activation, *inference["lung_postprocessing"]]
    assert _load(SEG / "evaluate.json")["validate#inferer"] == inference["inferer"]


def test_classification_inference_preprocesses_as_training_validation_does():
    train = _load(CLS / "train.json")["train"]["deterministic_transforms"]
    inference = [
        t
        for t in _load(CLS / "inference.json")["preprocessing"]["transforms"]
        if t["_target_"] != "monai_ext.bundle.PredictLungMaskd"  # masks made on the fly: inference only
    ]
    assert inference == train


def test_evaluation_reads_the_model_folder_as_inference_does():
    for configs, keys in ((SEG, ["image_size"]), (CLS, ["backbone", "input_mode", "crop_to_lung", "image_size"])):
        inference, evaluate = _load(configs / "inference.json"), _load(configs / "evaluate.json")
        assert {k: evaluate[k] for k in keys} == {k: inference[k] for k in keys}
        assert evaluate["model_folder"] == inference["model_folder"]
        check = [x for x in inference["initialize"] if "check_given" in x]
        # evaluation checks the same settings (and, for the classifier, the data list's classes too)
        assert len(check) == 1 and any(x.startswith(check[0][:-1]) for x in evaluate["initialize"])
    inference, evaluate = _load(CLS / "inference.json"), _load(CLS / "evaluate.json")
    # calibrated probabilities, in both: temperature scaling, then the softmax
    assert evaluate["validate#postprocessing"]["transforms"] == inference["postprocessing"]["transforms"]
    assert evaluate["calibration"] == inference["calibration"]


def test_classification_recipes_cover_exactly_the_backbone_table():
    """``train.json`` keeps one training recipe per backbone of :data:`monai_ext.networks.BACKBONES`: a
    backbone added to the table without a recipe (or a recipe for none) fails here, not mid-study."""
    from monai_ext.networks import BACKBONES

    recipes = _load(CLS / "train.json")["recipes"]
    assert set(recipes) == set(BACKBONES)
    assert all(set(recipe) == set(recipes["resnet50"]) for recipe in recipes.values())


def test_a_model_folders_missing_settings_fall_back_to_the_bundles_training_defaults():
    """``ModelFolder.setting``'s one table of fallbacks (for a folder whose ``settings.json`` lacks a setting)
    is each bundle's ``train.json`` default, and no config restates one."""
    from monai_ext.bundle.model_folder import SETTING_DEFAULTS

    for bundle, configs in (("cxr_lung_segmentation", SEG), ("cxr_covid_classification", CLS)):
        train = _load(configs / "train.json")
        assert SETTING_DEFAULTS[bundle] == {name: train[name] for name in SETTING_DEFAULTS[bundle]}
        for config in configs.glob("*.json"):
            assert not re.search(r"model_folder\.setting\('\w+',", config.read_text()), config
