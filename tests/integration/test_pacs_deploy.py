"""The PACS round trip of the Deploy app, for real: Orthanc (Debian's) started on loopback by the test, filled by
``monai_ext.apps.pacs.load`` over STOW-RS, a study retrieved by WADO-RS, the app run, its SEG, SR and secondary
capture stored back and read back from Orthanc; the faults (a PACS down, a study gone, a study without a
chest radiograph, a store refused) and a rerun that stores nothing twice; the OHIF viewer on that PACS,
driven by headless Chromium to the lung SEG over its radiograph. Runs in .venv-deploy."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

pytest.importorskip(
    "monai.deploy", reason="MONAI Deploy App SDK is not installed here; `make integration` runs this in .venv-deploy"
)

import highdicom as hd
from helpers import CLS, SEG, bundle_copy, free_port, loaded_pacs, orthanc_count
from PIL import Image
from pydicom.data import get_testdata_file

from monai_ext.apps.deploy.demo import export_models
from monai_ext.apps.deploy.pacs import StudyRunError, main, run_study
from monai_ext.apps.pacs.client import PACS
from monai_ext.apps.pacs.load import load_pacs
from monai_ext.apps.pacs.viewer import DEFAULT_DEST
from monai_ext.constants import REPO_ROOT

pytestmark = pytest.mark.slow

#: where make viewer (and make integration) unpack OHIF
OHIF_BUILD = REPO_ROOT / DEFAULT_DEST / "ohif"  # make viewer-install


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("pacs")
    with loaded_pacs(root / "orthanc") as site:
        seg, cls = bundle_copy(SEG, root / "bundles"), bundle_copy(CLS, root / "bundles")
        site.models, site.cls, site.root = export_models(root / "models", seg, cls), cls, root
        yield site


def _run(site, ds: pydicom.Dataset, gate: bool) -> SimpleNamespace:
    out = site.root / ("runs" if gate else "runs-no-gate")
    study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
    record = run_study(site.pacs, study, site.models, out, cls_bundle=site.cls, saliency=True, gate=gate)
    result = json.loads((out / study / "output" / sop / "result.json").read_text())
    return SimpleNamespace(ds=ds, record=record, result=result, out=out, gate=gate)


@pytest.fixture(scope="module")
def round_trip(site):
    """RG1_UNCR.dcm's study run from the PACS with the gate off (the untrained weights of the plumbing test
    give no plausible lungs), its SEG, SR and Grad-CAM capture stored back."""
    return _run(site, site.datasets[0], gate=False)


def test_the_load_stores_every_radiograph_once(site):
    assert site.loaded.failed == {} and len(site.loaded.stored) == len(site.datasets) == 5
    held = orthanc_count(site.server)
    again = load_pacs(site.pacs, site.datasets)  # Orthanc keeps the first copy of an instance
    assert again.failed == {} and orthanc_count(site.server) == held == 5
    series = site.pacs.radiograph_series()
    assert sorted(str(s.Modality) for s in series) == ["CR", "CR", "CR", "DX", "DX"]
    kinds = {
        (str(d.Modality), str(d.PhotometricInterpretation), d.file_meta.TransferSyntaxUID.is_compressed)
        for d in site.datasets
    }
    assert kinds == {
        ("CR", "MONOCHROME1", False),
        ("CR", "MONOCHROME1", True),
        ("DX", "MONOCHROME2", False),
        ("DX", "MONOCHROME2", True),
    }
    assert len({str(d.PatientID) for d in site.datasets}) == 5


def _from_pacs(site, study: str, obj: dict) -> pydicom.Dataset:
    (ds,) = site.pacs.retrieve_series(study, obj["SeriesInstanceUID"])
    assert str(ds.SOPInstanceUID) == obj["SOPInstanceUID"]
    return ds


def test_the_deploy_app_stores_seg_and_sr_back_and_they_read_back(site, round_trip):
    rg1, record, result = round_trip.ds, round_trip.record, round_trip.result
    study = str(rg1.StudyInstanceUID)
    assert record["missing"] == [] and result["gate"] == "off" and result["not_assessed"] == []
    (entry,) = record["radiographs"]
    assert sorted(entry["objects"]) == ["classification_sr", "lung_seg", "saliency_sc"]
    assert {o["status"] for o in entry["objects"].values()} == {"stored"}
    sr = hd.sr.Comprehensive3DSR.from_dataset(_from_pacs(site, study, entry["objects"]["classification_sr"]))
    group = sr.content.get_image_measurement_groups()[0]
    found = {m.name.meaning: m.value for m in group.get_measurements()}
    assert str(group.source_images[0].referenced_sop_instance_uid) == str(rg1.SOPInstanceUID)
    # the SR's values are result.json's
    assert found == pytest.approx({f"Probability of {k}": v for k, v in result["probabilities"].items()}, abs=1e-6)
    seg = hd.seg.Segmentation.from_dataset(_from_pacs(site, study, entry["objects"]["lung_seg"]))
    assert (seg.Rows, seg.Columns) == (rg1.Rows, rg1.Columns)  # the source's frame geometry
    assert str(seg.StudyInstanceUID) == study
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == rg1.SeriesInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == rg1.SOPInstanceUID
    mask = np.asarray(seg.pixel_array).reshape(rg1.Rows, rg1.Columns) > 0
    png = np.asarray(Image.open(result["lung_mask"])) > 0  # the bundle's mask
    assert np.array_equal(mask, png) and round(float(mask.mean()), 4) == result["lung_fraction"]
    sc = _from_pacs(site, study, entry["objects"]["saliency_sc"])
    assert sc.Modality == "OT" and sc.PatientID == rg1.PatientID and sc.pixel_array.shape[-1] == 3


def test_a_radiograph_the_gate_does_not_assess_gets_an_sr_that_says_why_and_no_mask(site):
    """The untrained weights' lung mask of RG1 is not plausible: the gate abstains; the PACS gets the SR only."""
    run = _run(site, site.datasets[0], gate=True)
    assert run.result["decision"] == "abstain" and run.result["not_assessed"]
    (entry,) = run.record["radiographs"]
    assert (
        list(entry["objects"]) == ["classification_sr"] and entry["objects"]["classification_sr"]["status"] == "stored"
    )
    sr = hd.sr.Comprehensive3DSR.from_dataset(
        _from_pacs(site, str(run.ds.StudyInstanceUID), entry["objects"]["classification_sr"])
    )
    group = sr.content.get_image_measurement_groups()[0]
    evaluations = {(e.name.meaning, e.value.meaning) for e in group.get_qualitative_evaluations()}
    assert ("Assessment by the input gate", "Not assessable") in evaluations and group.get_measurements() == []
    from monai_ext.gate import CHECKS

    assert {v for n, v in evaluations if n == "Reason not assessed"} == {CHECKS[c] for c in run.result["not_assessed"]}


def test_a_rerun_stores_no_duplicate(site, round_trip):
    held = orthanc_count(site.server)
    again = _run(site, round_trip.ds, gate=False).record
    assert {o["status"] for o in again["radiographs"][0]["objects"].values()} == {"already stored"}
    assert orthanc_count(site.server) == held
    assert {k: o["SOPInstanceUID"] for k, o in again["radiographs"][0]["objects"].items()} == {
        k: o["SOPInstanceUID"] for k, o in round_trip.record["radiographs"][0]["objects"].items()
    }


def test_a_pacs_that_is_down_or_a_study_gone_is_named(site, tmp_path):
    study = str(site.datasets[1].StudyInstanceUID)
    down = PACS(f"http://127.0.0.1:{free_port()}/dicom-web", timeout=1, retries=1, backoff=0.01)
    with pytest.raises(StudyRunError, match=rf"study {study}: not retrieved: .*not reachable after 2 tries"):
        run_study(down, study, site.models, tmp_path)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert site.pacs.store([ct]).failed == {}
    gone = str(ct.StudyInstanceUID)
    with urllib.request.urlopen(
        urllib.request.Request(f"{site.server.url}/tools/lookup", data=gone.encode(), method="POST"), timeout=10
    ) as r:
        orthanc_id = json.loads(r.read())[0]["ID"]
    urllib.request.urlopen(
        urllib.request.Request(f"{site.server.url}/studies/{orthanc_id}", method="DELETE"), timeout=10
    )
    with pytest.raises(StudyRunError, match=rf"study {gone}: not retrieved: .*not found"):
        run_study(site.pacs, gone, site.models, tmp_path)


def test_the_command_exports_runs_each_study_and_names_the_one_that_failed(site, tmp_path, monkeypatch, capsys):
    """``make deploy-pacs``'s command line: --export writes the models first (the segmentation bundle found
    under the working directory's bundles/, as in the repository); a study that fails is named, the next
    still runs and is stored; the exit status says one failed."""
    monkeypatch.chdir(site.root)
    dx, missing = site.datasets[2], "1.2.826.0.1.3680043.8.498.999999"
    argv = ["--pacs", site.pacs.url, "--study", missing, str(dx.StudyInstanceUID), "--model", str(tmp_path / "m")]
    argv += ["--export", "--cls-bundle", str(site.cls), "--out", str(tmp_path / "out"), "--no-gate"]
    assert main(argv) == 1
    said = capsys.readouterr()
    assert f"study {missing}: not retrieved" in said.err
    assert f"study {dx.StudyInstanceUID}, instance {dx.SOPInstanceUID}: lung_seg stored, classification_sr stored" in (
        said.out
    )
    assert (tmp_path / "m" / SEG / "model.ts").is_file() and (tmp_path / "m" / CLS / "model.ts").is_file()


def test_a_study_without_a_chest_radiograph_is_named(site, tmp_path):
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    assert site.pacs.store([mr]).failed == {}
    held = orthanc_count(site.server)
    with pytest.raises(StudyRunError, match=rf"study {mr.StudyInstanceUID}: no chest radiograph .*modality MR"):
        run_study(site.pacs, str(mr.StudyInstanceUID), site.models, tmp_path)
    assert orthanc_count(site.server) == held


class _RefusingStores(BaseHTTPRequestHandler):
    """Passes reads to the PACS, answers every store with HTTP 409 (a PACS that refuses the objects)."""

    target = ""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        request = urllib.request.Request(self.target + self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
        with urllib.request.urlopen(request, timeout=30) as r:
            body, kind, status = r.read(), r.headers.get("Content-Type", ""), r.status
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        body = b"refused by policy"
        self.send_response(409)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_refused_store_is_reported_and_nothing_is_half_stored(site, tmp_path):
    handler = type("H", (_RefusingStores,), {"target": site.server.url})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    held = orthanc_count(site.server)
    dx = site.datasets[1]
    try:
        pacs = PACS(f"http://127.0.0.1:{proxy.server_address[1]}/dicom-web", retries=0)
        with pytest.raises(StudyRunError, match=rf"study {dx.StudyInstanceUID}: not every output is in the PACS") as e:
            run_study(pacs, str(dx.StudyInstanceUID), site.models, tmp_path, cls_bundle=site.cls)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert "refused" in str(e.value) and "HTTP 409" in str(e.value)
    record = json.loads((tmp_path / str(dx.StudyInstanceUID) / "stored.json").read_text())
    assert {o["status"] for o in record["radiographs"][0]["objects"].values()} == {"refused"}
    assert orthanc_count(site.server) == held  # neither the SEG nor the SR


def _red(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the SEG's overlay (the viewer draws segment 1 in red over the grey radiograph)."""
    rgb = rgb.astype(np.int16)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r - g > 40) & (r - b > 40) & (np.abs(g - b) < 25)  # red over grey: green and blue alike


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def test_the_viewer_draws_the_seg_over_its_radiograph(site):
    """OHIF, served on the PACS, opened by headless Chromium on the synthetic DX with a SEG of its true lung
    mask: the SEG's colour lies where the lungs are and not elsewhere, over that radiograph's pixels."""
    from monai_ext.apps.pacs.objects import derived_uid, write_lung_seg
    from monai_ext.apps.pacs.screenshot import screenshot
    from monai_ext.apps.pacs.viewer import SHOWN, ViewerServer, ohif_url
    from monai_ext.data import read_cxr

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed: make pacs-deps")
    if not (OHIF_BUILD / "index.html").is_file():
        pytest.skip(f"no OHIF build at {OHIF_BUILD}: make viewer-install")
    dx = site.datasets[1]
    source = Path(dx.filename)
    lungs = read_cxr(source.parents[2] / "covidx-lung-gt" / source.parent.name / f"{source.stem}.png")[0] > 0
    sop = str(dx.SOPInstanceUID)
    seg = write_lung_seg(
        source,
        lungs.astype(np.uint8),
        site.root / "viewer_seg.dcm",
        manual=True,
        series_uid=derived_uid("viewer", sop, "series"),
        sop_uid=derived_uid("viewer", sop),
    )
    assert site.pacs.store([pydicom.dcmread(seg)]).failed == {}
    shot = site.root / "ohif_lung_seg.png"
    with ViewerServer(OHIF_BUILD, site.server.url, port=0) as viewer:
        url = ohif_url(viewer.url, str(dx.StudyInstanceUID), derived_uid("viewer", sop, "series"))
        screenshot(url, shot, chromium, until=SHOWN, timeout=180)
    picture = np.asarray(Image.open(shot).convert("RGB"))
    red = _red(picture)
    assert red.sum() > 2000, f"no SEG drawn in {shot}"
    # the red region, brought to the mask's frame by its bounding box, is the lung mask
    top, left, bottom, right = _box(red)
    m_top, m_left, m_bottom, m_right = _box(lungs)
    drawn = np.asarray(Image.fromarray(red[top:bottom, left:right]).resize((m_right - m_left, m_bottom - m_top))) > 0
    truth = lungs[m_top:m_bottom, m_left:m_right]
    assert drawn[truth].mean() > 0.8 and drawn[~truth].mean() < 0.1, f"the SEG is not the lungs in {shot}"
    # and it lies over this radiograph: the screen's grey under and around it follows the image's pixels
    grey = picture[top:bottom, left:right].min(axis=-1).astype(np.float64)
    image = read_cxr(source)[0][m_top:m_bottom, m_left:m_right]
    shown = np.asarray(Image.fromarray(grey).resize(image.shape[::-1]))
    assert np.corrcoef(shown[~truth], image[~truth])[0, 1] > 0.5, f"the SEG is not over the DX's image in {shot}"
