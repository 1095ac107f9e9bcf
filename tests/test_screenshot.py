"""Headless Chromium as the tests use it (monai_ext.apps.pacs.screenshot): a script runs in the page asked for,
even when that page is slow to come (a tab starts on an empty about:blank document that has loaded too,
and whose fetches are cross-origin everywhere: CI's make label test once read 'Failed to fetch' so)."""

from __future__ import annotations

import http.server
import shutil
import threading
import time

import pytest

from monai_ext.apps.pacs.screenshot import evaluate

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed: make pacs-deps")

DELAY_S = 3  # longer than Chromium takes to start and report the empty tab as loaded


class _Slow(http.server.BaseHTTPRequestHandler):
    """``/``: a page, after DELAY_S seconds; ``/data``: JSON that only the same origin may read; else a page."""

    def do_GET(self):
        if self.path == "/":
            time.sleep(DELAY_S)
        body, kind = (
            (b'{"a": 1, "b": 2}', "application/json") if self.path == "/data" else (b"<title>x</title>", "text/html")
        )
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:  # Chromium closed when the test had its answer (a favicon's request, say)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def slow_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_script_runs_in_the_slow_page_not_the_empty_tab(slow_url):
    script = (
        "fetch('/data').then(r => r.json()).then(j => location.href + ' read ' + Object.keys(j).length)"
        ".catch(e => location.href + ' refused: ' + e)"
    )
    assert evaluate(f"{slow_url}/", script, timeout=60) == f"{slow_url}/ read 2"


def test_a_page_elsewhere_is_refused_what_the_server_did_not_allow(slow_url):
    # the same server under another name: another origin, and no Access-Control-Allow-Origin in the answer
    other = slow_url.replace("127.0.0.1", "localhost")
    script = f"fetch('{slow_url}/data').then(r => r.json()).then(() => 'read').catch(e => 'refused: ' + e)"
    assert evaluate(f"{other}/", script, timeout=60) == "refused: TypeError: Failed to fetch"
