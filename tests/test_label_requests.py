"""What a MONAI Label request may carry (monai_ext.apps.label.requests): typed, allow-listed fields, nothing a
config parser would act on, image ids of the datastore, plain tags, the bundle's own model files. Pure
Python, so it runs here; `make integration` sends the same requests to a live server."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from monai_ext.apps.label.requests import (
    RequestError,
    check_batch_request,
    check_infer_request,
    check_task_request,
    check_train_request,
)

KNOWN = {"RG1_UNCR", "COVID-19_1_.png"}.__contains__
MODELS = ["model.pt"]


def test_a_good_inference_request_is_parsed_to_its_types():
    checked = check_infer_request(
        {"model": "cxr_lung_segmentation", "image": "RG1_UNCR", "device": "cuda:1", "save_label": "true",
         "label_tag": "final", "saliency": "0", "result_extension": [".png"], "model_filename": "model.pt"},
        KNOWN, MODELS,
    )  # fmt: skip
    assert checked == {
        "model": "cxr_lung_segmentation",
        "image": "RG1_UNCR",
        "device": "cuda:1",
        "save_label": True,
        "label_tag": "final",
        "saliency": False,
        "result_extension": ".png",
        "model_filename": "model.pt",
    }


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("device", "$__import__('os').system('touch x') and 'cpu'", "must not start with $ @ %"),
        ("device", "@device", "must not start with $ @ %"),
        ("device", "tpu", "must be 'cpu', 'cuda' or 'cuda:N'"),
        ("device", "cuda:0 ", "must be 'cpu', 'cuda' or 'cuda:N'"),
        ("image", "/etc/passwd", "not a path on the server"),
        ("image", "../studies/RG1_UNCR", "a name, not a path"),
        ("image", "sub/RG1_UNCR", "a name, not a path"),
        ("image", "unknown", "is not an image of the datastore"),
        ("label_tag", "../../escaped", "must be a plain name"),
        ("label_tag", "final/../..", "must be a plain name"),
        ("model_filename", "/tmp/evil.pt", "must be one of ['model.pt']"),
        ("model_filename", "../../other/models/model.pt", "must be one of ['model.pt']"),
        ("save_label", "maybe", "must be true or false"),
        ("saliency", "%train#saliency", "must not start with $ @ %"),
        ("roi_size", [96, 96], "not taken by this server"),
    ],
)
def test_hostile_inference_fields_are_refused_naming_the_field(field, value, words):
    with pytest.raises(RequestError) as raised:
        check_infer_request({"model": "cxr_lung_segmentation", "image": "RG1_UNCR", field: value}, KNOWN, MODELS)
    assert words in str(raised.value) and field in str(raised.value)


def test_an_uploaded_file_is_taken_and_other_paths_are_not(tmp_path):
    with tempfile.NamedTemporaryFile(suffix=".dcm") as upload:  # how MONAI Label's endpoint saves an upload
        assert check_infer_request({"image": upload.name}, KNOWN)["image"] == upload.name
    elsewhere = tmp_path / "tmpabcdefgh.dcm"
    elsewhere.write_bytes(b"x")
    with pytest.raises(RequestError, match="not a path on the server"):
        check_infer_request({"image": str(elsewhere)}, KNOWN)
    planted = Path(tempfile.gettempdir()) / "secret.png"
    with pytest.raises(RequestError, match="not a path on the server"):
        check_infer_request({"image": str(planted)}, KNOWN)


def test_a_task_checks_its_request_itself_whoever_calls_it(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"x")
    request = {"image": str(image), "device": "cuda:0", "description": "lung masks", "gate": "false"}
    assert check_task_request(request, MODELS) == {**request, "gate": False}
    for field, value, words in [
        ("device", "$open('marker', 'w').write('ran') and 'cpu'", "must not start with $ @ %"),
        ("device", "tpu", "must be 'cpu', 'cuda' or 'cuda:N'"),
        ("image", str(tmp_path / "missing.png"), "must be an image file on this server"),
        ("model_filename", "../../other/models/model.pt", "must be one of ['model.pt']"),
        ("description", ["@x"], "must not start with $ @ %"),
        ("roi_size", [96, 96], "not taken by this server"),
    ]:
        with pytest.raises(RequestError) as raised:
            check_task_request({**request, field: value}, MODELS)
        assert words in str(raised.value) and field in str(raised.value), (field, str(raised.value))


def test_config_syntax_is_refused_anywhere_in_a_value():
    with pytest.raises(RequestError, match=r"'images' = \"\$open"):
        check_batch_request({"images": ["RG1_UNCR", "$open('x','w')"]})
    with pytest.raises(RequestError, match="must not start with"):
        check_batch_request({"labels": ["@lung"]})


def test_a_good_training_request_is_parsed_and_empty_options_left_to_the_defaults(tmp_path):
    bundle = tmp_path / "cxr_lung_segmentation"
    checked = check_train_request(
        {"model": "cxr_lung_segmentation", "bundle_path": str(bundle), "max_epochs": "3", "val_split": 0.25,
         "device": "cpu", "multi_gpu": False, "pretrained": "true", "gpus": "all", "run_id": "", "tracking": "",
         "tracking_uri": "", "tracking_experiment_name": "", "model_filename": ["model.pt"]},
        bundle, MODELS,
    )  # fmt: skip
    assert checked == {
        "model": "cxr_lung_segmentation",
        "bundle_path": str(bundle),
        "max_epochs": 3,
        "val_split": 0.25,
        "device": "cpu",
        "multi_gpu": False,
        "pretrained": True,
        "gpus": "all",
        "model_filename": "model.pt",
    }


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_epochs", "$__import__('os').system('id')", "must not start with $ @ %"),
        ("max_epochs", 0, "must be an integer from 1 to 1000"),
        ("max_epochs", True, "must be an integer from 1 to 1000"),
        ("max_epochs", 10**6, "must be an integer from 1 to 1000"),
        ("val_split", 2, "must be a number from 0.0 to 0.9"),
        ("tracking", "mlflow", "must be one of ['', 'none', 'None']"),
        ("tracking_uri", "http://example.org/steal", "must be one of ['']"),
        ("run_id", "initialize", "must be one of ['', 'run', 'training']"),
        ("gpus", "0;rm", "must be 'all' or GPU indices"),
        ("bundle_path", "/elsewhere", "must be the bundle this task trains"),
        ("train#dataset#data", [], "not taken by this server"),
    ],
)
def test_hostile_training_fields_are_refused_naming_the_field(tmp_path, field, value, words):
    with pytest.raises(RequestError) as raised:
        check_train_request({"model": "cxr_lung_segmentation", field: value}, tmp_path / "bundle", MODELS)
    assert words in str(raised.value) and field in str(raised.value)
