"""MONAI Label's server (``monailabel start_server``) with a CORS rule that holds whatever pydantic does.

    python -m monai_ext.apps.label.server --app monai_ext/apps/label/app --studies STUDIES [--origins JSON]
        [any other option of monailabel start_server: --conf, --host, --port, ...]

MONAI Label 0.8 types ``MONAI_LABEL_CORS_ORIGINS`` as a list of pydantic ``AnyHttpUrl``: pydantic 2.10 and
newer give them back as URL objects, which ``start_server`` cannot pass on through ``json.dumps``
(``TypeError: Object of type AnyHttpUrl is not JSON serializable``), and print them with a trailing slash
(``http://127.0.0.1:8000/``), which no browser's ``Origin`` header carries. Here the origins are checked
(:func:`cors_origins`: ``scheme://host[:port]``, nothing else) and set on MONAI Label's settings as plain
strings before the server starts, so its CORS middleware compares them exactly. An empty list would
make MONAI Label allow every origin (``*``): it is refused. Without ``--origins`` the server's own origin
is the only one (and ``localhost`` beside ``127.0.0.1``), so only pages it serves may read its answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from urllib.parse import urlsplit

from monai_ext.apps.label import IMAGE_PATTERNS
from monai_ext.errors import CXRError

#: the environment variable MONAI Label reads its CORS origins from (and ``start_server`` writes)
CORS_VARIABLE = "MONAI_LABEL_CORS_ORIGINS"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class OriginError(CXRError, ValueError):
    """A CORS origin that is not ``scheme://host[:port]``."""


def origin(text: str) -> str:
    """``text`` as a browser's ``Origin`` header gives it (``http://host:port``, no path, no trailing slash);
    :class:`OriginError` naming the value and what is allowed otherwise."""
    if not isinstance(text, str):
        raise OriginError(f"CORS origin {text!r}: not a string; allowed: 'http(s)://host[:port]'")
    parts = urlsplit(text.strip())
    problem = (
        "scheme is not http or https"
        if parts.scheme not in ("http", "https")
        else "no host"
        if not parts.hostname
        else "a user name or password"
        if parts.username or parts.password
        else "a path, query or fragment"
        if parts.path not in ("", "/") or parts.query or parts.fragment
        else None
    )
    if problem is None:
        try:
            port = parts.port
        except ValueError:
            problem = "a port that is not a number from 0 to 65535"
    if problem:
        raise OriginError(f"CORS origin {text!r}: {problem}; allowed: 'http(s)://host[:port]'")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def cors_origins(value: str | None, host: str, port: int) -> list[str]:
    """The origins allowed to read the server's answers: ``value`` (a JSON list, or origins separated by
    commas) checked one by one, or, when it is empty, the server's own origin (``localhost`` beside a
    loopback address). A server bound to every address (``0.0.0.0``) must be told its viewer's origins."""
    if value and value.strip():
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as e:
                raise OriginError(f"CORS origins {value!r}: not a JSON list ({e.msg})") from None
            if not isinstance(items, list):
                raise OriginError(f"CORS origins {value!r}: not a JSON list")
        else:
            items = [item for item in text.split(",") if item.strip()]
        origins = list(dict.fromkeys(origin(item) for item in items))
        if not origins:
            raise OriginError(f"CORS origins {value!r}: empty (MONAI Label would then allow every origin)")
        return origins
    if host in ("0.0.0.0", "::", ""):
        raise OriginError(
            f"a server bound to {host or 'every address'!r} must be told the origins of the pages that may "
            "read its answers (--origins '[\"https://viewer.example.org\"]'; make label LABEL_ORIGINS=...)"
        )
    names = LOOPBACK[:2] if host in LOOPBACK[:2] else (host,)
    return [origin(f"http://{name}:{port}") for name in names]


def main(argv: list[str] | None = None) -> None:
    """Check the origins, set them on MONAI Label's settings, and run its ``start_server`` with the rest."""
    parser = argparse.ArgumentParser(prog="python -m monai_ext.apps.label.server", description=__doc__.split("\n")[0])
    parser.add_argument("--origins", default=os.environ.get(CORS_VARIABLE), help="JSON list or comma-separated")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, rest = parser.parse_known_args(argv)
    try:
        origins = cors_origins(args.origins, args.host, args.port)
    except OriginError as e:
        sys.exit(f"error: {e}")
    os.environ.pop(CORS_VARIABLE, None)  # MONAI Label must not parse it again into URL objects
    # pydantic warns, at each of start_server's dumps of its settings, that these are not AnyHttpUrl objects
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)

    from monailabel.config import settings
    from monailabel.main import Main

    settings.MONAI_LABEL_CORS_ORIGINS = origins  # plain strings: compared exactly with a request's Origin
    # start_server writes every setting into the environment, so the app could no longer tell a file-type
    # list the user set from MONAI Label's default (which has no *.dcm): the project's is set unless given
    if "MONAI_LABEL_DATASTORE_FILE_EXT" not in os.environ:
        settings.MONAI_LABEL_DATASTORE_FILE_EXT = IMAGE_PATTERNS
    print(f"CORS: pages from {', '.join(origins)} may read this server's answers", flush=True)
    sys.argv = ["monailabel", "start_server", *rest, "--host", args.host, "--port", str(args.port)]
    Main().run()


if __name__ == "__main__":
    main()
