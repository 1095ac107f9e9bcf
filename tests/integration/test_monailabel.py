"""MONAI Label 0.8.x serving both bundles from a bundles folder: a real server on localhost, real HTTP
requests (/info, /infer on PNG and DICOM, /train from the datastore's labels). Runs in .venv-label."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip(
    "monailabel", reason="MONAI Label is not installed here; `make integration` runs this in .venv-label"
)

from helpers import CLS, CLS_CALIBRATION, SEG, bundle_copy
from PIL import Image

from monai_ext.bundle import REPO_ROOT
from monai_ext.label.studies import make_studies

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, method: str = "GET", fields: dict | None = None, timeout: float = 600) -> tuple[int, bytes, str]:
    """HTTP request; ``fields`` are sent as multipart/form-data (how MONAI Label takes ``params``)."""
    body, headers = None, {}
    if fields is not None:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()
        ]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read(), r.headers.get("Content-Type", "")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    bundles = root / "bundles"
    for name in (SEG, CLS):
        bundle_copy(name, bundles)
    studies = make_studies(root / "studies", labelled=8, unlabelled=3)
    port = _free_port()
    env = {**os.environ, "MONAI_LABEL_DATASTORE_FILE_EXT": '["*.png","*.jpg","*.jpeg","*.dcm"]'}
    log = open(root / "server.log", "w")  # noqa: SIM115 - the server writes to it until the fixture ends
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monailabel.main",
            "start_server",
            "--app",
            str(REPO_ROOT / "monai_ext" / "label" / "app"),
            "--studies",
            str(studies),
            "--conf",
            "bundles",
            str(bundles),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while True:
        try:
            if _request(f"{url}/info/", timeout=5)[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"MONAI Label server did not start; log:\n{(root / 'server.log').read_text()[-4000:]}")
        time.sleep(2)
    yield {"url": url, "studies": studies, "bundles": bundles, "log": root / "server.log"}
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


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
    status, body, _ = _request(
        f"{server['url']}/infer/{CLS}?image=RG1_UNCR&output=json", "POST", {"params": json.dumps({"device": "cpu"})}
    )
    answer = json.loads(body)
    result = answer.get("params", answer)
    assert status == 200 and result["prediction"] in ("negative", "positive")
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert result["threshold"] == CLS_CALIBRATION["threshold"]  # the decision at the model's saved threshold
    assert result["decision"] == ("positive" if result["probabilities"]["positive"] >= 0.4 else "negative")
    assert "saliency" not in result  # only when asked


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
