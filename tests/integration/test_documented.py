"""The README's server and deployment commands, run exactly as written (read from it: tests/documented.py),
in a fresh copy of the checkout: the files a clone has (never what the user's runs left), beside a link to
shared/, with environments of its own made by its own ``make`` targets from the locks (seconds, from uv's
cache). So the commands are tried as a new user types them, and the user's checkout is not written to.
``make integration`` runs this (CXR_INTEGRATION=1), in the core environment; the servers bind the
documented ports (Orthanc 8042, MONAI Label 8000, the viewer 3000), which must be free."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from checkout import source_files
from documented import command, without_options
from helpers import request
from PIL import Image

from monai_ext.constants import CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.utils import file_sha256

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("CXR_INTEGRATION"), reason="make integration runs this (CXR_INTEGRATION=1)"),
]

LABEL_URL, PACS_URL, VIEWER_URL = "http://127.0.0.1:8000", "http://127.0.0.1:8042", "http://127.0.0.1:3000"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> dict:
    """A copy of the checkout's committed files at ``root/main``, with ``root/shared`` linked to shared/."""
    root = tmp_path_factory.mktemp("documented")
    main = root / "main"
    for name in source_files("."):
        (main / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, main / name)
    if (REPO_ROOT.parent / "shared").is_dir():
        (root / "shared").symlink_to(REPO_ROOT.parent / "shared")
    if (REPO_ROOT / ".viewer").is_dir():  # OHIF's build (make viewer-install, run by make integration)
        (main / ".viewer").symlink_to(REPO_ROOT / ".viewer")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CXR_INTEGRATION")}
    # uv's cache stays the user's (files checked by their hashes; linked, not copied, into the copy's envs)
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env["HOME"] = str(root / "home")  # ~/bundles of the release line, and nothing else of the user's
    env["PATH"] = f"{main / '.venv' / 'bin'}:{env['PATH']}"  # the README's python lines run in .venv (activated)
    (root / "home").mkdir()
    return {"root": root, "main": main, "env": env}


def _run(clone: dict, text: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """``text`` run by bash in the copy, as typed; its output in the failure when it fails."""
    result = subprocess.run(
        ["bash", "-c", text],
        cwd=clone["main"],
        env=clone["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{text}\nexited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def _serving(clone: dict, text: str, url: str, log: str, timeout: float = 900):
    """``text`` started by bash in the copy (its own process group) until ``url`` answers; stopped as Ctrl-C
    stops it when the block ends, and it must stop within a minute. Yields the process."""
    with open(clone["root"] / log, "w") as out:
        process = subprocess.Popen(
            ["bash", "-c", text], cwd=clone["main"], env=clone["env"], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not _answers(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{text}: {url} never answered; log:\n{(clone['root'] / log).read_text()[-4000:]}")
                time.sleep(2)
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail(f"{text}: still running a minute after Ctrl-C")
    assert not _answers(url), f"{text}: {url} still answers after it stopped"


def _other_origin_page(root: Path):
    """An empty page on another origin (a free loopback port): a site that is not the server's."""
    (root / "other").mkdir(exist_ok=True)
    (root / "other" / "index.html").write_text("<!doctype html><title>elsewhere</title>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root / "other"), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _reads(page: str, target: str) -> str:
    """What a page loaded from ``page`` gets when its script fetches ``target``: 'read' or the browser's refusal."""
    from monai_ext.apps.pacs.screenshot import evaluate

    script = (
        f"fetch({target!r}).then(r => r.json()).then(j => 'read ' + Object.keys(j).length).catch(e => 'refused: ' + e)"
    )
    return evaluate(page, script, timeout=60)


def test_make_label_answers_and_only_its_own_origin_reads(clone):
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed: make pacs-deps")
    with _serving(clone, command("make label").text, f"{LABEL_URL}/info/", "make-label.log"):
        info = json.loads(urllib.request.urlopen(f"{LABEL_URL}/info/", timeout=30).read())
        assert SEG_BUNDLE in info["models"]
        _run(clone, command("curl -X POST").text)
        mask = np.asarray(Image.open(clone["main"] / "mask.png"))
        assert set(np.unique(mask)) <= {0, 1} and 0.1 < mask.mean() < 0.6  # the committed weights: real lungs
        # the server's own origin, in both spellings the Makefile allows, reads; a page elsewhere is refused
        assert _reads(f"{LABEL_URL}/info/", "http://localhost:8000/info/").startswith("read ")
        assert _reads("http://localhost:8000/info/", f"{LABEL_URL}/info/").startswith("read ")
        elsewhere = _other_origin_page(clone["root"])
        try:
            page = f"http://127.0.0.1:{elsewhere.server_address[1]}/index.html"
            assert _reads(page, f"{LABEL_URL}/info/").startswith("refused: TypeError")
        finally:
            elsewhere.shutdown()


def test_make_deploy_demo_answers_on_the_real_radiograph(clone):
    _run(clone, command("make deploy-demo").text)
    results = json.loads((clone["main"] / "results" / "deploy" / "output" / "results.json").read_text())
    result = next(r for r in results["radiographs"] if Path(r["file"]).name == "RG1_UNCR.dcm")
    mask = np.asarray(Image.open(result["lung_mask"])) > 0
    half = mask.shape[1] // 2
    # both lungs: a plausible share of the image, on both sides of the midline
    assert 0.15 < mask.mean() < 0.6 and mask[:, :half].mean() > 0.05 and mask[:, half:].mean() > 0.05, result
    assert result["tta_disagreement"] < 0.15, result
    if (clone["root"] / "shared" / "data" / "cxr-dev" / "covidx" / "train.txt").is_file():
        # make weights trained the classifier on the development sample's real radiographs: the gate knows one
        assert result["decision"] != "abstain", result


def test_the_pacs_round_trip_as_documented(clone):
    from monai_ext.apps.pacs.client import PACS

    if shutil.which("Orthanc") is None and not Path("/usr/sbin/Orthanc").exists():
        pytest.skip("Orthanc is not installed: make pacs-deps")
    with _serving(clone, command("make pacs").text, f"{PACS_URL}/system", "make-pacs.log", timeout=300):
        _run(clone, command("make pacs-load").text)
        study = command("make deploy-pacs").command.split("STUDY=")[1].split()[0]
        assert PACS(f"{PACS_URL}/dicom-web").search_series(StudyInstanceUID=study), "the documented study is not loaded"
        _run(clone, without_options(command("make deploy-pacs").command))
        stored = json.loads(next((clone["main"] / "results" / "deploy-pacs").rglob("stored.json")).read_text())
        assert stored["radiographs"] and not stored["missing"], stored
        with _serving(clone, command("make label STUDIES=").text, f"{LABEL_URL}/info/", "make-label-pacs.log"):
            # the radiograph's series: the study holds the SEG and SR the deploy run stored too, in no set order
            (radiograph,) = PACS(f"{PACS_URL}/dicom-web").radiograph_series(StudyInstanceUID=study)
            series = str(radiograph.SeriesInstanceUID)
            url = f"{LABEL_URL}/infer/cxr_lung_segmentation?image={series}&output=image"
            status, body, _ = request(url, "POST", {"params": json.dumps({"device": "cpu"})})
            assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"  # the PACS's radiograph, segmented
        if (clone["main"] / ".viewer").exists() or shutil.which("npm"):
            with _serving(clone, command("make viewer").text, VIEWER_URL, "make-viewer.log", timeout=600):
                assert b"<html" in urllib.request.urlopen(VIEWER_URL, timeout=30).read().lower()


def test_make_bench_quick(clone):
    _run(clone, command("make bench").text)
    assert "GFLOP/s" in (clone["main"] / "results" / "bench" / "bench.md").read_text()


def test_a_release_installs_with_the_documented_download(clone):
    _run(clone, command("make release").text)
    download = command("python -m monai.bundle download")
    archive = clone["main"] / download.command.split("file://$PWD/")[1].split()[0]
    assert archive.is_file(), (
        f"{download.document}:{download.line} names {archive.name}, which make release did not write"
    )
    _run(clone, download.text)
    installed = clone["root"] / "home" / "bundles" / SEG_BUNDLE
    committed = REPO_ROOT / "bundles" / SEG_BUNDLE / "models" / "model.pt"
    assert file_sha256(installed / "models" / "model.pt") == file_sha256(committed)
    with zipfile.ZipFile(archive) as z:
        assert f"{SEG_BUNDLE}/configs/metadata.json" in z.namelist()


def test_the_bundle_docs_commands_run_as_written(clone):
    main = clone["main"]
    listed = command("python -m monai_ext.tools.data_lists covid-qu-ex --root ../shared/data/cxr-dev/lung-seg")
    if not (clone["root"] / "shared" / "data" / "cxr-dev").is_dir():
        pytest.skip("no shared/data/cxr-dev beside the checkout")
    _run(clone, listed.text)
    assert (main / "data_lists" / "cxr_dev_lung_seg.json").read_bytes() == (
        REPO_ROOT / "data_lists" / "cxr_dev_lung_seg.json"
    ).read_bytes()
    export = command("python -m monai.bundle ckpt_export network_def")  # the same line in both bundles' docs
    for name in (SEG_BUNDLE, CLS_BUNDLE):  # the classifier's weights: make weights, run by make label above
        subprocess.run(
            ["bash", "-c", export.text], cwd=main / "bundles" / name, env=clone["env"], check=True,
            capture_output=True,
        )  # fmt: skip
        assert (main / "bundles" / name / "models" / "model.ts").stat().st_size > 1e6
    test = REPO_ROOT.parent / "shared" / "data" / "cxr-dev" / "covidx" / "test"
    (main / "images").mkdir()
    for path in sorted(test.iterdir())[:2]:
        shutil.copy2(path, main / "images")
    seg = command("python -m monai.bundle run --config_file bundles/cxr_lung_segmentation/configs/inference.json")
    _run(clone, seg.text.replace("/path/to/images", "images").replace("/path/to/masks", "masks"))
    assert len(list((main / "masks").glob("*.png"))) == 2
    cls = command("python -m monai.bundle run --config_file bundles/cxr_covid_classification/configs/inference.json")
    _run(clone, cls.text.replace("/path/to/folder", "images"))
    assert len((main / "out" / "predictions.csv").read_text().splitlines()) == 3  # a header and two rows
