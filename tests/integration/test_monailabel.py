"""MONAI Label 0.8.x serving both bundles from a bundles folder: a real server on localhost, real HTTP
requests (/info, /infer on PNG and DICOM, /train from the datastore's labels). Runs in .venv-label."""

from __future__ import annotations

import io
import json
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

pytest.importorskip(
    "monailabel", reason="MONAI Label is not installed here; `make integration` runs this in .venv-label"
)

from helpers import CLS, CLS_CALIBRATION, SEG, bundle_copy, label_server
from helpers import request as _request
from PIL import Image

from monai_ext.apps.label.studies import make_studies
from monai_ext.bundle import bundle_command
from monai_ext.data import read_cxr, write_png
from monai_ext.utils import read_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    bundles = root / "bundles"
    for name in (SEG, CLS):
        bundle_copy(name, bundles)
    studies = make_studies(root / "studies", labelled=8, unlabelled=3)
    env = {"MONAI_LABEL_DATASTORE_FILE_EXT": '["*.png","*.jpg","*.jpeg","*.dcm"]'}
    with label_server(root, str(studies), bundles, env) as url:
        yield {"url": url, "studies": studies, "bundles": bundles, "log": root / "server.log"}


def test_info_lists_both_models_and_the_trainer(server):
    info = json.loads(_request(f"{server['url']}/info/")[1])
    assert {SEG, CLS} <= set(info["models"]) and SEG in info["trainers"]
    assert info["models"][SEG]["type"] == "segmentation" and info["models"][SEG]["labels"] == {"lung": 1}
    assert info["models"][CLS]["type"] == "classification" and set(info["models"][CLS]["labels"]) == {
        "negative",
        "positive",
    }


@pytest.mark.parametrize("kind", ["png", "dicom"])
def test_segmentation_infer_returns_a_mask_at_the_input_size(server, kind):
    studies: Path = server["studies"]
    image_id = min(p.stem for p in studies.glob("*.png")) if kind == "png" else "RG1_UNCR"
    status, body, _ = _request(
        f"{server['url']}/infer/{SEG}?image={image_id}&output=image", "POST", {"params": json.dumps({"device": "cpu"})}
    )
    assert status == 200
    mask = np.asarray(Image.open(io.BytesIO(body)))
    source = next(studies.glob(f"{image_id}.*"))
    if source.suffix == ".dcm":
        ds = pydicom.dcmread(source, stop_before_pixels=True)
        expected = (ds.Rows, ds.Columns)
    else:
        expected = Image.open(source).size[::-1]
    assert mask.shape == expected and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}


def test_classification_infer_returns_probabilities(server):
    params = json.dumps({"device": "cpu", "gate": False})  # the plumbing of untrained weights: the gate off
    status, body, _ = _request(f"{server['url']}/infer/{CLS}?image=RG1_UNCR&output=json", "POST", {"params": params})
    answer = json.loads(body)
    result = answer.get("params", answer)
    assert status == 200 and result["prediction"] in ("negative", "positive")
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert result["threshold"] == CLS_CALIBRATION["threshold"]  # the decision at the model's saved threshold
    assert result["decision"] == ("positive" if result["probabilities"]["positive"] >= 0.4 else "negative")
    assert result["gate"] == "off" and result["abstain_reason"] == ""
    assert "saliency" not in result  # only when asked


def test_classification_infer_says_what_the_input_gate_said(server):
    status, body, _ = _request(
        f"{server['url']}/infer/{CLS}?image=RG1_UNCR&output=json", "POST", {"params": json.dumps({"device": "cpu"})}
    )
    result = json.loads(body)
    result = result.get("params", result)
    assert status == 200 and result["gate"] in ("answer", "abstain")
    # untrained segmentation weights give no plausible lungs: the gate does not answer, and says why
    if result["gate"] == "abstain":
        assert result["decision"] == "abstain" and result["abstain_reason"]
    else:
        assert result["decision"] in ("negative", "positive") and result["abstain_reason"] == ""
    assert {"ood_distance", "tta_disagreement", "upright", "mediastinum_contrast", "colourfulness"} <= set(result)


def test_classification_infer_returns_its_saliency_map_when_asked(server):
    params = json.dumps({"device": "cpu", "saliency": True})
    status, body, _ = _request(f"{server['url']}/infer/{CLS}?image=RG1_UNCR&output=image", "POST", {"params": params})
    assert status == 200
    overlay = Image.open(io.BytesIO(body))
    assert overlay.mode == "RGB" and overlay.size == (224, 224)  # over the classifier's input
    status, body, _ = _request(f"{server['url']}/infer/{CLS}?image=RG1_UNCR&output=json", "POST", {"params": params})
    result = json.loads(body)
    result = result.get("params", result)
    saliency = result["saliency"]
    assert saliency["method"] == "Grad-CAM" and saliency["explained"] == result["prediction"]
    assert 0 <= saliency["in_lung"] <= 1 and 0 < saliency["lung_area"] < 1  # lung input mode: a mask was made


def test_segmentation_trains_from_the_datastore_labels(server):
    model = server["bundles"] / SEG / "models" / "model.pt"
    before = model.stat().st_mtime_ns
    req = urllib.request.Request(
        f"{server['url']}/train/{SEG}?run_sync=true",
        method="POST",
        data=json.dumps(
            {"max_epochs": 1, "val_split": 0.25, "device": "cpu", "multi_gpu": False, "pretrained": True}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=900) as r:
        assert r.status == 200
    log = server["log"].read_text()
    assert "Total Records for Training: 6" in log and "Total Records for Validation: 2" in log
    assert model.stat().st_mtime_ns > before, "training did not write models/model.pt"


def _refused(url: str, method: str = "POST", **kwargs) -> str:
    """The detail of a request the server must refuse with HTTP 400."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        _request(url, method, timeout=120, **kwargs)
    assert raised.value.code == 400, raised.value.read()
    return json.loads(raised.value.read())["detail"]


@pytest.fixture(scope="module")
def marker(server, tmp_path_factory) -> Path:
    """A file each hostile payload tries to create: none of them may."""
    path = tmp_path_factory.mktemp("marker") / "ran"
    yield path
    assert not path.exists(), f"a request ran code: {path} exists"


def _payload(marker: Path) -> str:
    return f"$open({str(marker)!r}, 'w').write('ran') and 'cpu'"


def test_a_hostile_device_is_refused_and_runs_nothing(server, marker):
    url = f"{server['url']}/infer/{SEG}?image=RG1_UNCR&output=json"
    for device in (_payload(marker), "@device", "%train#device", "cuda; rm -rf /", "tpu"):
        detail = _refused(url, fields={"params": json.dumps({"device": device})})
        assert "request field 'device'" in detail
        assert "must be 'cpu', 'cuda' or 'cuda:N'" in detail or "must not start with $ @ %" in detail
    assert not marker.exists()


@pytest.mark.parametrize("name", [SEG, CLS])
def test_the_tasks_refuse_a_hostile_device_without_the_projects_app(server, marker, name):
    """Another MONAI Label app (or a script) that registers the project's task calls it directly: the task's
    own check refuses the expression, and it never runs."""
    from monai_ext.apps.label.requests import RequestError
    from monai_ext.apps.label.tasks import CovidClassificationInfer, LungSegmentationInfer

    bundles: Path = server["bundles"]
    task = (
        LungSegmentationInfer(str(bundles / SEG), {})
        if name == SEG
        else CovidClassificationInfer(str(bundles / CLS), {}, seg_bundle=str(bundles / SEG))
    )
    image = str(next(server["studies"].glob("RG1_UNCR.*")))
    with pytest.raises(RequestError, match="request field 'device'"):
        task({"image": image, "device": _payload(marker)})
    assert not marker.exists()
    label, answer = task({"image": image, "device": "cpu", "gate": False})  # a good request still answers
    if name == SEG:
        assert label and Path(label).is_file()
    else:
        assert answer["decision"] in ("negative", "positive")


def test_hostile_training_fields_are_refused_and_run_nothing(server, marker):
    url = f"{server['url']}/train/{SEG}?run_sync=true"
    for params, field in (
        ({"max_epochs": _payload(marker)}, "max_epochs"),
        ({"max_epochs": 1, "device": _payload(marker)}, "device"),
        ({"max_epochs": 1, "tracking": "mlflow", "tracking_uri": "http://example.org"}, "tracking"),
        ({"max_epochs": 1, "run_id": "initialize"}, "run_id"),
        ({"max_epochs": 1, "model_filename": "/tmp/evil.pt"}, "model_filename"),
        ({"max_epochs": 1, "train#dataset#data": []}, "not taken by this server"),
    ):
        assert field in _refused(url, json_body=params), params
    assert not marker.exists()


@pytest.mark.parametrize(
    "image", ["/etc/passwd", "../studies/RG1_UNCR", "RG1_UNCR/../../x", "no_such_image", "$print(1)"]
)
def test_image_ids_resolve_inside_the_datastore_only(server, image):
    from urllib.parse import quote

    # as the query's image id, and as a params field that would replace a good one
    url = f"{server['url']}/infer/{SEG}?image={quote(image, safe='')}&output=json"
    assert "request field 'image'" in _refused(url, fields={"params": json.dumps({"device": "cpu"})})
    url = f"{server['url']}/infer/{SEG}?image=RG1_UNCR&output=json"
    assert "request field 'image'" in _refused(url, fields={"params": json.dumps({"device": "cpu", "image": image})})


def test_label_tags_and_model_files_stay_in_the_apps_folders(server, tmp_path):
    studies: Path = server["studies"]
    params = {"device": "cpu", "save_label": True, "label_tag": "../../escaped"}
    detail = _refused(f"{server['url']}/infer/{SEG}?image=RG1_UNCR&output=json", fields={"params": json.dumps(params)})
    assert "request field 'label_tag'" in detail and not (studies.parent / "escaped").exists()
    params = {"device": "cpu", "model_filename": "../../../bundles/cxr_covid_classification/models/model.pt"}
    detail = _refused(f"{server['url']}/infer/{SEG}?image=RG1_UNCR&output=json", fields={"params": json.dumps(params)})
    assert "request field 'model_filename'" in detail
    # the datastore's own endpoint: a label saved under a tag that leaves labels/
    boundary = uuid.uuid4().hex
    png = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(png, format="PNG")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="label"; filename="l.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        f"{server['url']}/datastore/label?image=RG1_UNCR&tag=..%2F..%2Fescaped",
        data=body,
        method="PUT",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(req, timeout=60)
    assert raised.value.code == 400 and not (studies.parent / "escaped").exists()


def test_unknown_request_fields_are_refused_and_good_requests_still_answer(server):
    url = f"{server['url']}/infer/{SEG}?image=RG1_UNCR&output=json"
    detail = _refused(url, fields={"params": json.dumps({"device": "cpu", "roi_size": "$1"})})
    assert "roi_size" in detail
    status, body, _ = _request(url, "POST", {"params": json.dumps({"device": "cpu"})})
    assert status == 200 and json.loads(body)["label_names"] == {"lung": 1}


# --- MONAI Label's stock BundleInferTask (the monaibundle app's path), without the project's subclasses


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """Both bundles in a MONAI Label app's ``model`` folder, a non-square PNG and the real CR, and what the
    bundles' own command line makes of them (masks, predictions.csv)."""
    root = tmp_path_factory.mktemp("stock")
    model = root / "model"
    seg, cls = bundle_copy(SEG, model), bundle_copy(CLS, model)
    images = root / "images"
    images.mkdir()
    (images / "RG1_UNCR.dcm").write_bytes(Path(get_testdata_file("RG1_UNCR.dcm")).read_bytes())
    array, _ = read_cxr(images / "RG1_UNCR.dcm")
    wide = array[: array.shape[0] // 2, : array.shape[1] // 3]  # rows != columns
    write_png((wide * 255).round().astype(np.uint8), images / "wide.png")
    cli = {}
    for name, bundle in ((SEG, seg), (CLS, cls)):
        cli[name] = root / f"cli_{name}"
        subprocess.run(
            bundle_command(
                "run", "--config_file", bundle / "configs" / "inference.json",
                "--dataset_dir", images, "--output_dir", cli[name], "--device", "cpu",
            ),
            check=True, capture_output=True, text=True, cwd=root,
        )  # fmt: skip
    return {"seg": seg, "cls": cls, "images": images, "cli": cli}


def _label_array(path: str) -> np.ndarray:
    """The label file MONAI Label's writer saved, as (rows, columns)."""
    if path.endswith(".png"):
        return np.asarray(Image.open(path))
    return pydicom.dcmread(path).pixel_array


@pytest.mark.parametrize("name", ["wide.png", "RG1_UNCR.dcm"])
def test_stock_bundle_infer_task_segments_at_the_input_size(stock, name):
    """MONAI Label's own ``BundleInferTask`` on the segmentation bundle: a 2-D 0/1 mask with the input's rows
    and columns, equal to the mask the bundle's command line writes (0/255 there)."""
    from monailabel.tasks.infer.bundle import BundleInferTask

    task = BundleInferTask(str(stock["seg"]), {})
    label, _ = task({"image": str(stock["images"] / name), "device": "cpu"})
    mask = _label_array(label)
    reference = np.asarray(Image.open(stock["cli"][SEG] / (Path(name).stem + ".png")))
    rows, columns = read_cxr(stock["images"] / name)[0].shape
    assert mask.shape == (rows, columns) and set(np.unique(mask)) <= {0, 1}
    assert 0 < mask.mean() < 1, "a fresh network's mask is neither empty nor full: orientation is testable"
    np.testing.assert_array_equal(mask, reference // 255)


def test_stock_bundle_infer_task_classifies(stock):
    """MONAI Label's own ``BundleInferTask`` on the classification bundle (its lung mask from the sibling
    segmentation bundle in the same model folder): each class's probability, equal to predictions.csv.
    ``add_post_restore=False``: MONAI Label 0.8.5's restore step resizes every output to the input image's
    ``spatial_shape`` and fails on any classifier's 1-D output."""
    from monailabel.tasks.infer.bundle import BundleInferTask

    task = BundleInferTask(str(stock["cls"]), {}, add_post_restore=False)
    _, answer = task({"image": str(stock["images"] / "RG1_UNCR.dcm"), "device": "cpu"})
    scores = {p["label"]: p["score"] for p in answer["prediction"]}
    rows = {row["name"]: row for row in read_csv(stock["cli"][CLS] / "predictions.csv")}
    row = rows["RG1_UNCR.dcm"]
    assert set(scores) == {"negative", "positive"} and abs(sum(scores.values()) - 1) < 1e-5
    for label, score in scores.items():
        assert abs(score - float(row[f"prob_{label}"])) < 1e-5
