"""The OHIF web viewer on the local PACS (``make viewer``).

OHIF ships built (``dist/`` of the npm package ``@ohif/app``); :func:`install_ohif` fetches that package
with ``npm pack`` (no dependency is installed, nothing runs) and unpacks it. :class:`ViewerServer` serves it
on the loopback interface with a configuration of its own (``app-config.js``: one DICOMweb data source,
the PACS, seen at this server's own origin) and passes the viewer's DICOMweb reads to the PACS: GET and
HEAD only, so the viewer can show what the PACS holds and change nothing in it, and the browser needs no
cross-origin access to the PACS.

    python -m monai_ext.apps.pacs.viewer install [--dest .viewer]
    python -m monai_ext.apps.pacs.viewer serve [--pacs http://127.0.0.1:8042] [--port 3000]

A study opens at ``http://127.0.0.1:3000/viewer?StudyInstanceUIDs=<study>``; with
``&initialSeriesInstanceUID=<SEG series>`` the lung SEG is drawn over its radiograph at once.
"""

from __future__ import annotations

import argparse
import mimetypes
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlparse

from monai_ext.errors import CXRError

__all__ = ["OHIF_PACKAGE", "SHOWN", "ViewerServer", "install_ohif", "ohif_url"]

#: the OHIF release served (npm)
OHIF_PACKAGE = "@ohif/app@3.13.2"
#: true in the viewer's page once it has drawn and loaded everything it shows (for a screenshot's ``until``)
SHOWN = "document.querySelectorAll('canvas').length > 0 && !document.body.innerText.includes('Loading')"
#: where ``make viewer`` unpacks it
DEFAULT_DEST = Path(".viewer")
#: the PACS paths the viewer reads, passed on to the PACS
PROXIED = ("/dicom-web/", "/wado")
#: the data source of the viewer: the PACS at this server's origin (Orthanc's DICOMweb plugin)
APP_CONFIG = """window.config = {
  routerBasename: '/',
  showStudyList: true,
  disableConfirmationPrompts: true,
  investigationalUseDialog: { option: 'never' },  // this project's README says it: research use only
  customizationService: [{ 'ohif.tours': { $set: [] } }],
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  extensions: [],
  modes: [],
  maxNumberOfWebWorkers: 2,
  defaultDataSourceName: 'pacs',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'pacs',
      configuration: {
        friendlyName: 'local PACS (Orthanc)',
        name: 'orthanc',
        wadoUriRoot: window.location.origin + '/wado',
        qidoRoot: window.location.origin + '/dicom-web',
        wadoRoot: window.location.origin + '/dicom-web',
        qidoSupportsIncludeField: false,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        omitQuotationForMultipartRequest: true,
        bulkDataURI: { enabled: true },
      },
    },
  ],
};
"""


class ViewerError(CXRError, RuntimeError):
    """The viewer cannot be installed or served (npm missing, no OHIF build, port taken)."""


def install_ohif(dest: Path = DEFAULT_DEST, package: str = OHIF_PACKAGE) -> Path:
    """``npm pack`` the OHIF package into ``dest`` and unpack its ``dist/``; the built viewer's folder
    (``dest/ohif``), replaced only once the new one is complete."""
    npm = shutil.which("npm")
    if npm is None:
        raise ViewerError("npm is not installed: apt-get install npm")
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        done = subprocess.run(
            [npm, "pack", package, "--pack-destination", tmp, "--ignore-scripts", "--silent"],
            capture_output=True,
            text=True,
            check=False,
        )
        archives = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not archives:
            raise ViewerError(f"npm pack {package} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(tmp, filter="data")  # no links out, no absolute paths
        built = Path(tmp) / "package" / "dist"
        if not (built / "index.html").is_file():
            raise ViewerError(f"{package}: no dist/index.html in the package")
        (built / ".package").write_text(package + "\n")
        old = dest / "ohif.old"
        shutil.rmtree(old, ignore_errors=True)
        if (dest / "ohif").exists():
            (dest / "ohif").rename(old)
        built.rename(dest / "ohif")
        shutil.rmtree(old, ignore_errors=True)
    return dest / "ohif"


def ohif_url(base: str, study_uid: str, seg_series_uid: str | None = None) -> str:
    """The viewer's address of a study (with a SEG series, that SEG shown over its image)."""
    url = f"{base.rstrip('/')}/viewer?StudyInstanceUIDs={study_uid}"
    return url + (f"&initialSeriesInstanceUID={seg_series_uid}" if seg_series_uid else "")


class _Handler(BaseHTTPRequestHandler):
    root: Path
    pacs: str
    server_version = "cxr-monai-viewer"

    def log_message(self, format: str, *args) -> None:
        pass

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        # cross-origin isolation (the viewer's decoders use SharedArrayBuffer); everything is same-origin
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path.startswith(PROXIED):
            return self._proxy()
        if path == "/app-config.js":
            body = APP_CONFIG.encode()
            self._headers(200, "application/javascript", len(body))
            return self._write(body)
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            file = self.root / "index.html"  # the viewer's own routes (/viewer, /)
        body = file.read_bytes()
        kind = "application/wasm" if file.suffix == ".wasm" else mimetypes.guess_type(file.name)[0]
        self._headers(200, kind or "application/octet-stream", len(body))
        self._write(body)

    do_HEAD = do_GET

    def _write(self, body: bytes) -> None:
        if self.command != "HEAD":
            self.wfile.write(body)

    def _proxy(self) -> None:
        request = urllib.request.Request(self.pacs + self.path, method=self.command)
        for name in ("Accept", "Range"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                body, status, kind = answer.read(), answer.status, answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            body, status, kind = e.read(), e.code, e.headers.get("Content-Type", "text/plain")
        except OSError as e:
            body, status, kind = f"PACS not reachable: {e}".encode(), 502, "text/plain"
        self._headers(status, kind, len(body))
        self._write(body)

    def _refuse(self) -> None:
        body = b"this viewer only reads the PACS"
        self._headers(405, "text/plain", len(body))
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse


class ViewerServer:
    """OHIF's built viewer ``root`` served on ``127.0.0.1:port`` in a thread, reading the PACS at ``pacs``
    (Orthanc's HTTP root, ``http://127.0.0.1:8042``); a context manager."""

    def __init__(self, root: Path, pacs: str, port: int = 3000, host: str = "127.0.0.1") -> None:
        root = Path(root).resolve()
        if not (root / "index.html").is_file():
            raise ViewerError(f"{root}: no OHIF build (index.html); make viewer installs it")
        handler = type("Handler", (_Handler,), {"root": root, "pacs": pacs.rstrip("/")})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as e:
            raise ViewerError(f"{host}:{port}: {e.strerror}") from None
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.apps.pacs.viewer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help=f"npm pack {OHIF_PACKAGE} and unpack its dist/")
    install.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    serve = commands.add_parser("serve", help="the viewer on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--root", type=Path, default=DEFAULT_DEST / "ohif")
    serve.add_argument("--pacs", default="http://127.0.0.1:8042", help="Orthanc's HTTP root")
    serve.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(f"OHIF: {install_ohif(args.dest)}")
            return 0
        with ViewerServer(args.root, args.pacs, args.port) as server:
            print(f"viewer: {server.url} (PACS {args.pacs}); Ctrl-C stops it", flush=True)
            try:
                server.thread.join()
            except KeyboardInterrupt:
                pass
    except ViewerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
