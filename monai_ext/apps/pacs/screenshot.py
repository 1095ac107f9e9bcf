"""A screenshot of a web page by headless Chromium (Debian's ``chromium``), for the viewer's test and docs.

    python -m monai_ext.apps.pacs.screenshot URL OUT.png [--until JS_EXPRESSION] [--timeout 120]

Chromium runs headless with software WebGL (SwiftShader: the viewer draws with WebGL and a test machine has
no GPU) and a fresh profile in a temporary folder, driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: no port is opened). The page is loaded, ``until`` (a JavaScript expression)
is asked every half second until it is true, the page is given ``settle`` seconds more to draw, and the
picture is taken; an expression still false after ``timeout`` seconds is an error that says so (with a
picture of the page as it was, for the reader).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monai_ext.errors import CXRError

__all__ = ["ScreenshotError", "chromium_page", "evaluate", "screenshot"]

#: the default condition: the document has loaded
LOADED = "document.readyState === 'complete'"
#: the tab shows the page asked for: until its navigation commits, a new tab holds an empty ``about:blank``
#: document that has loaded too (an origin of its own, so its fetches are cross-origin everywhere)
OPENED = "location.href !== 'about:blank'"


class ScreenshotError(CXRError, RuntimeError):
    """Chromium is missing, stopped, or the page never reached its condition."""


class _DevTools:
    """The DevTools protocol over Chromium's pipe (fd 3 in, fd 4 out; messages end with a NUL byte)."""

    def __init__(self, to_chromium: int, from_chromium: int) -> None:
        self.write, self.read = os.fdopen(to_chromium, "wb", buffering=0), os.fdopen(from_chromium, "rb")
        self.next_id, self.buffer = 0, b""

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> Any:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.write.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" not in self.buffer:
                chunk = os.read(self.read.fileno(), 1 << 20)
                if not chunk:
                    raise ScreenshotError(f"chromium stopped during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise ScreenshotError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
        raise ScreenshotError(f"{method}: no answer within {timeout:g} s")


@contextlib.contextmanager
def chromium_page(
    url: str, chromium: str | None = None, size: tuple[int, int] = (1280, 900), timeout: float = 60
) -> Iterator[tuple]:
    """Headless Chromium (a fresh profile) with ``url`` open in one tab: yields the DevTools connection and
    the tab's session once the tab shows ``url``'s document (or Chromium's error page for it), not the
    empty page a tab starts with; :class:`ScreenshotError` if that takes over ``timeout`` seconds. Chromium
    is closed when the block ends."""
    chromium = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise ScreenshotError("chromium is not installed: apt-get install chromium")
    to_read, to_chromium = os.pipe()  # Chromium reads fd 3, writes fd 4
    from_chromium, to_write = os.pipe()
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium,
            "--headless=new",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",  # this machine's closed network refuses Chromium's own calls
            "--disable-component-update",
            f"--user-data-dir={profile}",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--ignore-gpu-blocklist",
            "--hide-scrollbars",
            f"--window-size={size[0]},{size[1]}",
            "--remote-debugging-pipe",
            "about:blank",
        ]

        def _pipes() -> None:  # in the child: the protocol's descriptors at 3 and 4 (copied first: either may be)
            read, write = os.dup(to_read), os.dup(to_write)
            os.dup2(read, 3)
            os.dup2(write, 4)

        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),  # kept open for exec (made by _pipes)
            preexec_fn=_pipes,  # noqa: PLW1509 - dup and dup2 calls, no lock taken
        )
        os.close(to_read)
        os.close(to_write)
        tools = _DevTools(to_chromium, from_chromium)
        try:
            target = tools.call("Target.createTarget", {"url": url})["targetId"]
            session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            if not _wait_until(tools, session, OPENED, timeout):
                raise ScreenshotError(f"{url}: Chromium did not open it within {timeout:g} s")
            yield tools, session
        finally:
            try:
                tools.call("Browser.close", timeout=10)
            except (ScreenshotError, OSError):
                pass
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until(tools: _DevTools, session: str, until: str, timeout: float) -> bool:
    """Ask ``until`` every half second until it is true (True) or ``timeout`` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = tools.call("Runtime.evaluate", {"expression": f"!!({until})", "returnByValue": True}, session)
        except ScreenshotError as e:  # the page is between documents (navigating): ask again
            if "execution context" not in str(e):
                raise
            answer = {}
        if answer.get("result", {}).get("value") is True:
            return True
        time.sleep(0.5)
    return False


def evaluate(url: str, expression: str, chromium: str | None = None, timeout: float = 60) -> Any:
    """The value of the JavaScript ``expression`` (a promise is awaited) in ``url``'s page once it has
    loaded: what a page from that origin can do, as a browser enforces it (CORS included)."""
    with chromium_page(url, chromium, timeout=timeout) as (tools, session):
        if not _wait_until(tools, session, LOADED, timeout):
            raise ScreenshotError(f"{url}: did not load within {timeout:g} s")
        answer = tools.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
            timeout=timeout,
        )
    return answer.get("result", {}).get("value")


def screenshot(
    url: str,
    out: Path,
    chromium: str | None = None,
    until: str = LOADED,
    timeout: float = 120,
    settle: float = 3,
    size: tuple[int, int] = (1280, 900),
) -> Path:
    """Load ``url`` in headless Chromium, wait until ``until`` is true (then ``settle`` seconds), save ``out``."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with chromium_page(url, chromium, size, timeout) as (tools, session):
        reached = _wait_until(tools, session, until, timeout)
        time.sleep(settle)
        shot = tools.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        out.write_bytes(base64.b64decode(shot))
    if not reached:
        raise ScreenshotError(f"{url}: {until!r} still false after {timeout:g} s (the page as it was: {out})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monai_ext.apps.pacs.screenshot", description=__doc__.splitlines()[0]
    )
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--until", default=LOADED, help="a JavaScript expression to wait for (default: loaded)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for it")
    args = parser.parse_args(argv)
    try:
        print(screenshot(args.url, args.out, until=args.until, timeout=args.timeout))
    except ScreenshotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
