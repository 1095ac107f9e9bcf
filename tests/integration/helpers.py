"""Helpers of the integration tests (MONAI Label, MONAI Deploy), which run in their own environments
and skip, saying so, in the core one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import torch
from checkout import bundle_source

from monai_ext.bundle import inference_parser
from monai_ext.constants import CALIBRATION_FILE, CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.utils import file_sha256, write_json

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE


#: the operating point given to the classification copy's weights (as training would save it beside them)
CLS_CALIBRATION = {"temperature": 1.5, "threshold": 0.4, "positive_class": "positive"}


def bundle_copy(name: str, dest: Path, seed: int = 0) -> Path:
    """A copy of ``bundles/<name>`` under ``dest`` whose ``models/model.pt`` is a freshly initialised network
    (seeded): the integrations are tested on their plumbing, independent of any trained weights. The
    classification copy gets :data:`CLS_CALIBRATION` beside its weights."""
    out = bundle_source(name, dest)
    parser = inference_parser(out, device="cpu")
    torch.manual_seed(seed)
    torch.save(parser.get_parsed_content("network_def").state_dict(), out / "models" / "model.pt")
    if name == CLS:
        calibration = {**CLS_CALIBRATION, "model_sha256": file_sha256(out / "models" / "model.pt")}
        write_json(calibration, out / "models" / CALIBRATION_FILE)
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def orthanc(storage: Path):
    """A started Orthanc (the project's configuration) on a free loopback port, storing under ``storage``;
    the test is skipped, saying how to install it, where Orthanc is not installed (``make pacs-deps``)."""
    import pytest

    from monai_ext.apps.pacs.server import OrthancServer, PACSServerError, dicomweb_plugin

    if shutil.which("Orthanc") is None and not Path("/usr/sbin/Orthanc").exists():
        pytest.skip("Orthanc is not installed: make pacs-deps (apt-get install orthanc orthanc-dicomweb)")
    try:
        dicomweb_plugin()
    except PACSServerError as e:
        pytest.skip(str(e))
    return OrthancServer(storage, free_port()).start()


def orthanc_count(server) -> int:
    """How many instances the Orthanc holds (its REST API)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/statistics", timeout=10) as r:
        return int(json.loads(r.read())["CountInstances"])


def request(
    url: str, method: str = "GET", fields: dict | None = None, timeout: float = 600, json_body: dict | None = None
) -> tuple[int, bytes, str]:
    """HTTP request; ``fields`` are sent as multipart/form-data (how MONAI Label takes ``params``), ``json_body``
    as JSON (its training parameters)."""
    body, headers = None, {}
    if json_body is not None:
        body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
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


@contextlib.contextmanager
def label_server(root: Path, studies: str, bundles: Path, env: dict[str, str] | None = None, conf: dict | None = None):
    """MONAI Label with the project's app on a free loopback port, serving ``studies`` (a folder or a DICOMweb
    root) with the bundles of ``bundles``; its log in ``root/server.log``. Yields its URL."""
    import pytest

    port = free_port()
    extra = [arg for key, value in (conf or {}).items() for arg in ("--conf", key, str(value))]
    log = open(root / "server.log", "w")  # noqa: SIM115 - the server writes to it until the context ends
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monai_ext.apps.label.server",
            "--app",
            str(REPO_ROOT / "monai_ext" / "apps" / "label" / "app"),
            "--studies",
            studies,
            "--conf",
            "bundles",
            str(bundles),
            *extra,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    try:
        while True:
            try:
                if request(f"{url}/info/", timeout=5)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"MONAI Label server did not start; log:\n{(root / 'server.log').read_text()[-4000:]}")
            time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def loaded_pacs(storage: Path):
    """A started Orthanc (:func:`orthanc`) filled with ``make pacs-load``'s radiographs; yields ``server``,
    ``pacs`` (the project's client), ``datasets`` (what was stored) and ``loaded`` (the store's answer)."""
    from types import SimpleNamespace

    from monai_ext.apps.pacs.client import PACS
    from monai_ext.apps.pacs.load import load_pacs, load_set

    server = orthanc(storage)
    try:
        pacs = PACS(server.dicomweb_url, timeout=30)
        datasets = load_set()
        yield SimpleNamespace(server=server, pacs=pacs, datasets=datasets, loaded=load_pacs(pacs, datasets))
    finally:
        server.stop()
