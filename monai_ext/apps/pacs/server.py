"""A local Orthanc PACS for the round trip (``make pacs``, the integration tests).

Orthanc (Debian's ``orthanc`` and ``orthanc-dicomweb`` packages) runs with this package's fixed settings
(``orthanc.json``: no remote access, no DICOM (DIMSE) listener, no Lua, no WebDAV, stored instances
never overwritten, the DICOMweb plugin on ``/dicom-web/``) plus a run file of this server's own
(storage folder, HTTP port, the DICOMweb plugin's path), both in ``<storage>/config/``: Orthanc merges
the JSON files of the folder it is given.

Orthanc 1.10 has no option for the address it listens on: with ``RemoteAccessAllowed`` false it refuses
every request that does not come from the loopback interface (HTTP 403), and it opens no DICOM port.

    python -m monai_ext.apps.pacs serve --storage results/pacs --port 8042
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from monai_ext.errors import CXRError
from monai_ext.utils import write_json

__all__ = ["ORTHANC_CONFIG", "OrthancServer", "PACSServerError", "dicomweb_plugin"]

#: the fixed settings of the project's Orthanc (kept in the repository, merged with the run file)
ORTHANC_CONFIG = Path(__file__).with_name("orthanc.json")
#: the settings of this server's run (storage, port, plugin), beside :data:`ORTHANC_CONFIG` in ``<storage>/config/``
ORTHANC_RUN_CONFIG = "orthanc-run.json"
#: where Debian's orthanc-dicomweb puts its plugin (the first that exists is used)
PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc", "/usr/local/share/orthanc/plugins")
PLUGIN_NAME = "libOrthancDicomWeb.so"
#: how Debian names the server's executable
ORTHANC = "Orthanc"


class PACSServerError(CXRError, RuntimeError):
    """Orthanc cannot be started here (not installed, port taken, did not answer)."""


def dicomweb_plugin() -> Path:
    """The DICOMweb plugin of the installed Orthanc."""
    for folder in PLUGIN_DIRS:
        for path in sorted(Path(folder).glob(f"{PLUGIN_NAME}*")):
            return path
    raise PACSServerError(
        f"Orthanc's DICOMweb plugin ({PLUGIN_NAME}) not found in {', '.join(PLUGIN_DIRS)}: "
        "apt-get install orthanc orthanc-dicomweb"
    )


def _stop_with_parent() -> None:
    """In the child before Orthanc starts: SIGTERM when the process that started it dies (Linux's
    PR_SET_PDEATHSIG), so a killed test or ``make pacs`` leaves no Orthanc behind holding the port."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:  # not glibc: the caller's stop() is the only way out
        pass


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections (TIME_WAIT) do not count
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class OrthancServer:
    """Orthanc on ``127.0.0.1:port`` storing under ``storage`` (kept between runs: a PACS keeps its studies);
    a context manager that starts it, waits until it answers, and stops it (SIGTERM, then SIGKILL after
    ``stop_timeout`` seconds).

    Args:
        storage: the folder of Orthanc's database and files; its log is ``storage/orthanc.log``.
        port: the HTTP port (DICOMweb at ``http://127.0.0.1:port/dicom-web``).
        start_timeout: seconds to wait for Orthanc's first answer.
        stop_timeout: seconds to wait for a clean stop.
    """

    def __init__(self, storage: Path, port: int = 8042, start_timeout: float = 60, stop_timeout: float = 30) -> None:
        self.storage = Path(storage).resolve()
        self.port = int(port)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def _write_config(self) -> Path:
        folder = self.storage / "config"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ORTHANC_CONFIG, folder / ORTHANC_CONFIG.name)
        db = self.storage / "db"
        run = {"StorageDirectory": str(db), "IndexDirectory": str(db), "HttpPort": self.port}
        run["Plugins"] = [str(dicomweb_plugin())]
        write_json(run, folder / ORTHANC_RUN_CONFIG)
        return folder

    def answers(self, timeout: float = 2) -> bool:
        """Whether Orthanc answers ``/system`` now."""
        try:
            with urllib.request.urlopen(f"{self.url}/system", timeout=timeout) as r:
                return r.status == 200 and "Version" in json.loads(r.read())
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def start(self) -> OrthancServer:
        executable = shutil.which(ORTHANC) or shutil.which(ORTHANC, path="/usr/sbin:/usr/local/sbin")
        if executable is None:
            raise PACSServerError(f"{ORTHANC} is not installed: apt-get install orthanc orthanc-dicomweb")
        if not _port_free(self.port):
            raise PACSServerError(f"port {self.port} on 127.0.0.1 is in use: choose another (PACS_PORT=...)")
        config = self._write_config()
        log = open(self.storage / "orthanc.log", "ab")  # noqa: SIM115 - Orthanc writes to it while it runs
        self.process = subprocess.Popen(
            [executable, str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_stop_with_parent,  # noqa: PLW1509 - one prctl call, no lock taken
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PACSServerError(
                    f"Orthanc exited with {self.process.returncode} at start: see {self.storage / 'orthanc.log'}"
                )
            if self.answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise PACSServerError(f"Orthanc did not answer on {self.url} within {self.start_timeout:g} s")

    def stop(self) -> None:
        """Stop Orthanc cleanly (it finishes its writes on SIGTERM)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(storage: Path, port: int) -> int:
    """Run Orthanc in the foreground until Ctrl-C or SIGTERM, then stop it cleanly."""
    server = OrthancServer(storage, port)
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    with server:
        print(f"Orthanc: {server.url} (DICOMweb {server.dicomweb_url}), storage {server.storage}", flush=True)
        print("loopback only; Ctrl-C stops it", flush=True)
        try:
            while not stop["now"] and server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    code = server.process.returncode if server.process else 0
    return 0 if code in (0, -signal.SIGTERM, None) else int(code)
