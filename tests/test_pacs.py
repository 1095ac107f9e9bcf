"""The PACS pieces without a PACS: derived UIDs, the DICOMweb client's time-outs, retries and errors against a
loopback server that misbehaves on purpose, what the Deploy round trip stores (and says is missing) against
a PACS stand-in, and the viewer's server (static files, read-only pass-through). The real Orthanc is
``make integration``'s (tests/integration/test_pacs_*.py)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pydicom
import pytest

from monai_ext.apps.pacs.client import PACS, PACSError, StoreResult
from monai_ext.apps.pacs.objects import derived_uid, write_classification_sr, write_lung_seg

SERIES_JSON = [{"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}, "0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]


#: the account the stand-in's /locked paths accept
LOGIN = ("reader", "s3cret")


def _basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class _Flaky(BaseHTTPRequestHandler):
    """GET /slow sleeps; /busy answers 503 ``busy`` times, then a series list; /locked wants :data:`LOGIN`
    (HTTP Basic), else 401; a study is 404."""

    calls: ClassVar[dict[str, int]] = {}
    busy = 2

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.calls[path] = self.calls.get(path, 0) + 1
        if path.startswith("/slow"):
            time.sleep(2)
        if path.startswith("/busy") and self.calls[path] <= self.busy:
            self.send_response(503)
            self.end_headers()
            return
        if path.startswith("/locked") and self.headers.get("Authorization") != _basic(*LOGIN):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="pacs"')
            self.end_headers()
            return
        if "/studies/" in path:
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(SERIES_JSON).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def flaky():
    handler = type("H", (_Flaky,), {"calls": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda *args: None  # a client that gave up (the time-out test): not the test's output
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.calls
    server.shutdown()
    server.server_close()


def test_derived_uids_are_functions_of_their_parts():
    a = derived_uid("lung_seg", "model-sha", "1.2.3")
    assert a == derived_uid("lung_seg", "model-sha", "1.2.3") and pydicom.uid.UID(a).is_valid
    assert a != derived_uid("lung_seg", "other-model", "1.2.3") != derived_uid("lung_seg", "model-sha", "1.2.4")
    with pytest.raises(ValueError):
        derived_uid("lung_seg", "")


def test_a_pacs_that_is_down_is_an_error_after_bounded_tries():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pacs = PACS(f"http://127.0.0.1:{port}/dicom-web", timeout=1, retries=2, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(PACSError, match=r"study 1\.2\.3: not reachable after 3 tries"):
        pacs.retrieve_study("1.2.3")
    assert time.monotonic() - start < 10


def test_a_slow_pacs_times_out_and_a_missing_study_is_named(flaky):
    url, _ = flaky
    with pytest.raises(PACSError, match=r"no answer within 0\.5 s"):
        PACS(f"{url}/slow", timeout=0.5, retries=0).search_series(Modality="CR")
    with pytest.raises(PACSError, match=r"study 9\.9\.9: not found \(HTTP 404"):
        PACS(url, retries=0).retrieve_study("9.9.9")
    with pytest.raises(PACSError, match="a DICOMweb URL is http"):
        PACS("file:///etc")


def test_a_busy_pacs_is_asked_again(flaky):
    url, calls = flaky
    series = PACS(f"{url}/busy", retries=3, backoff=0.01).search_series(Modality="CR")
    assert [str(s.SeriesInstanceUID) for s in series] == ["1.2.3.4"]
    assert calls["/busy/series"] == 3  # two 503 answers, then the list
    with pytest.raises(PACSError, match="HTTP 503"):
        PACS(f"{url}/busy-again", retries=0).search_series(Modality="DX")


def test_a_pacs_that_asks_for_credentials_gets_them_and_never_in_the_clear(flaky):
    from monai_ext.apps.pacs.client import PASSWORD_VARIABLE, USERNAME_VARIABLE, credentials_from

    url, _ = flaky
    with pytest.raises(PACSError, match=r"/locked: series search Modality=CR: HTTP 401, access refused: credentials"):
        PACS(f"{url}/locked", retries=0).search_series(Modality="CR")
    with pytest.raises(PACSError, match="HTTP 401, access refused"):
        PACS(f"{url}/locked", retries=0, credentials=("reader", "wrong")).search_series(Modality="CR")
    series = PACS(f"{url}/locked", retries=0, credentials=LOGIN).search_series(Modality="CR")
    assert [str(s.SeriesInstanceUID) for s in series] == ["1.2.3.4"]
    # plain http to another machine would show the password to the network; https or this machine only
    with pytest.raises(PACSError, match="credentials would cross the network in the clear"):
        PACS("http://192.0.2.10:8042/dicom-web", credentials=LOGIN)
    PACS("https://pacs.example.org/dicom-web", credentials=LOGIN)  # made, nothing sent yet
    with pytest.raises(PACSError, match=r"credentials not in it"):
        PACS("http://reader:s3cret@127.0.0.1:8042/dicom-web")
    assert credentials_from({USERNAME_VARIABLE: "reader", PASSWORD_VARIABLE: "s3cret"}) == LOGIN
    assert credentials_from({PASSWORD_VARIABLE: "s3cret"}) is None


@pytest.fixture(scope="module")
def radiograph(tmp_path_factory) -> Path:
    """A small synthetic DX with its identifiers (the default data's format)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path = tmp_path_factory.mktemp("dx") / "dx.dcm"
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientID, ds.PatientName, ds.StudyID, ds.AccessionNumber = "DX", "P1", "TEST^P1", "1", "A1"
    ds.PatientBirthDate, ds.PatientSex, ds.StudyDate, ds.StudyTime = "", "O", "20260101", "120000"
    ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = "", 1, 1
    ds.Manufacturer, ds.BodyPartExamined, ds.ViewPosition, ds.PatientOrientation = "test", "CHEST", "PA", ["L", "F"]
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PixelData = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) % 4096).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


class _StandIn:
    """A PACS stand-in for :func:`store_outputs`: holds SOP Instance UIDs; refuses those in ``refuse``."""

    url = "http://stand-in/dicom-web"

    def __init__(self, refuse=()) -> None:
        self.held: set[str] = set()
        self.refuse = set(refuse)
        self.requests: list[list[str]] = []

    def has_instance(self, uid: str) -> bool:
        return uid in self.held

    def store(self, datasets) -> StoreResult:
        uids = [str(ds.SOPInstanceUID) for ds in datasets]
        self.requests.append(uids)
        out = StoreResult()
        for uid in uids:
            if uid in self.refuse:
                out.failed[uid] = "failure reason 272"
            else:
                self.held.add(uid)
                out.stored.append(uid)
        return out


def _results(radiograph: Path, folder: Path, not_assessed=()) -> dict:
    sop = str(pydicom.dcmread(radiograph).SOPInstanceUID)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 4:14] = mask[8:24, 18:28] = 1
    seg = write_lung_seg(radiograph, mask, folder / "seg.dcm", sop_uid=derived_uid("seg", sop))
    sr = write_classification_sr(
        radiograph, {"negative": 0.2, "positive": 0.8}, folder / "sr.dcm", sop_uid=derived_uid("sr", sop)
    )
    item = {
        "SOPInstanceUID": sop,
        "lung_seg": str(seg),
        "classification_sr": str(sr),
        "not_assessed": list(not_assessed),
    }
    return {"radiographs": [item], "skipped": {}}


def test_outputs_are_stored_once_and_a_refusal_is_named(radiograph, tmp_path):
    from monai_ext.apps.deploy.pacs import store_outputs

    results = _results(radiograph, tmp_path)
    pacs = _StandIn()
    first = store_outputs(pacs, results)
    assert first["missing"] == [] and len(pacs.requests) == 1 and len(pacs.requests[0]) == 2  # SEG and SR together
    assert {o["status"] for o in first["radiographs"][0]["objects"].values()} == {"stored"}
    again = store_outputs(pacs, results)  # a rerun: both are there, nothing is sent
    assert len(pacs.requests) == 1 and {o["status"] for o in again["radiographs"][0]["objects"].values()} == {
        "already stored"
    }
    sr_uid = str(pydicom.dcmread(results["radiographs"][0]["classification_sr"]).SOPInstanceUID)
    refusing = _StandIn(refuse={sr_uid})
    record = store_outputs(refusing, results)
    assert record["missing"] == [
        f"{results['radiographs'][0]['SOPInstanceUID']}: DICOM SR refused (failure reason 272)"
    ]
    assert record["radiographs"][0]["objects"]["lung_seg"]["status"] == "stored"


def test_a_radiograph_not_assessed_gets_its_sr_only(radiograph, tmp_path):
    from monai_ext.apps.deploy.pacs import store_outputs

    pacs = _StandIn()
    record = store_outputs(pacs, _results(radiograph, tmp_path, not_assessed=["orientation"]))
    assert list(record["radiographs"][0]["objects"]) == ["classification_sr"] and len(pacs.requests[0]) == 1


def test_the_viewer_serves_its_build_and_only_reads_the_pacs(tmp_path, flaky):
    from monai_ext.apps.pacs.viewer import ViewerError, ViewerServer

    with pytest.raises(ViewerError, match="no OHIF build"):
        ViewerServer(tmp_path, "http://127.0.0.1:9")
    (tmp_path / "index.html").write_text("<html>viewer</html>")
    (tmp_path / "app.js").write_text("//")
    (tmp_path.parent / "secret.txt").write_text("secret")
    pacs, calls = flaky
    with ViewerServer(tmp_path, pacs, port=0) as server:

        def get(path: str, method: str = "GET") -> tuple[int, bytes, str]:
            request = urllib.request.Request(server.url + path, method=method, data=b"x" if method == "POST" else None)
            try:
                with urllib.request.urlopen(request, timeout=5) as r:
                    return r.status, r.read(), r.headers.get("Content-Type", "")
            except urllib.error.HTTPError as e:
                return e.code, e.read(), ""

        assert get("/viewer?StudyInstanceUIDs=1.2.3")[1] == b"<html>viewer</html>"  # the viewer's own route
        assert get("/app.js")[2].endswith("javascript")
        assert b"qidoRoot: window.location.origin + '/dicom-web'" in get("/app-config.js")[1]
        assert b"secret" not in get("/../secret.txt")[1] and b"secret" not in get("/%2e%2e/secret.txt")[1]
        status, body, _ = get("/dicom-web/series?Modality=CR")  # passed on to the PACS
        assert status == 200 and json.loads(body) == SERIES_JSON and calls["/dicom-web/series"] == 1
        assert get("/dicom-web/studies", method="POST")[0] == 405  # no store, no delete through the viewer
        assert get("/dicom-web/studies/1.2.3", method="DELETE")[0] == 405
