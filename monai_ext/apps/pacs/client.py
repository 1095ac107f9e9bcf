"""The project's DICOMweb client: ``dicomweb_client.DICOMwebClient`` with bounded time-outs and retries, and
errors that name the server, the study and what failed.

Every request has a time-out (``timeout`` seconds to connect and between bytes); a refused or broken
connection is retried ``retries`` times with exponential back-off, as is an answer of 429, 502, 503 or
504 (``dicomweb_client``'s own retry); then a :class:`PACSError` says which server did not answer and
for what. Re-sending a store is safe: the project's objects have deterministic UIDs
(:mod:`monai_ext.apps.pacs.objects`) and the project's Orthanc never overwrites an instance.

A PACS that asks for credentials gets HTTP Basic authentication (``username``, ``password``), over https
only, or to a server on this machine: a password is never sent in the clear across a network. The
command lines read them from the environment (:data:`USERNAME_VARIABLE`, :data:`PASSWORD_VARIABLE`),
never from their arguments, which other users of the machine can read.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from retrying import RetryError
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from monai_ext.errors import CXRError
from monai_ext.gate.checks import ACCEPTED_MODALITIES

__all__ = ["PACS", "PASSWORD_VARIABLE", "USERNAME_VARIABLE", "PACSError", "StoreResult", "credentials_from"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: answers worth asking again (busy, gateway trouble); anything else is an answer
RETRIED_STATUS = (429, 502, 503, 504)
#: the environment variables the command lines take a PACS's credentials from
USERNAME_VARIABLE, PASSWORD_VARIABLE = "CXR_PACS_USERNAME", "CXR_PACS_PASSWORD"


def credentials_from(environ: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """``(username, password)`` from :data:`USERNAME_VARIABLE` and :data:`PASSWORD_VARIABLE`, or None when
    no username is set."""
    username = environ.get(USERNAME_VARIABLE, "")
    return (username, environ.get(PASSWORD_VARIABLE, "")) if username else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PACSError(CXRError, RuntimeError):
    """A DICOMweb request failed: the message names the server, what was asked (study, series or
    instance UID) and why."""


class _TimedSession(requests.Session):
    """A session whose every request has ``timeout`` and whose connection failures are retried."""

    def __init__(self, timeout: float, retries: int, backoff: float) -> None:
        super().__init__()
        self.timeout = timeout
        retry = Retry(total=retries, connect=retries, read=0, status=0, other=0, backoff_factor=backoff)
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


@dataclass
class StoreResult:
    """What a STOW-RS stored: SOP Instance UIDs stored and refused (with the server's reason)."""

    stored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class PACS:
    """A DICOMweb server (QIDO-RS, WADO-RS, STOW-RS) at ``url`` (``http://127.0.0.1:8042/dicom-web``).

    Args:
        url: the DICOMweb root, http or https.
        timeout: seconds to connect and to wait between bytes of an answer.
        retries: further tries of a request whose connection failed or that got 429/502/503/504.
        backoff: the first wait between tries in seconds, doubled each time.
        credentials: ``(username, password)`` for HTTP Basic authentication, or None; refused for plain
            http to another machine.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.username or parsed.password:
            raise PACSError(f"{url!r}: a DICOMweb URL is http(s)://host[:port]/path (credentials not in it)")
        if credentials and parsed.scheme == "http" and not _is_loopback(parsed.hostname or ""):
            raise PACSError(
                f"{url}: credentials would cross the network in the clear: use https, or a PACS on this machine"
            )
        self.url = url.rstrip("/")
        self.timeout, self.retries = timeout, retries
        session = _TimedSession(timeout, retries, backoff)
        if credentials:
            session.auth = HTTPBasicAuth(*credentials)
        self.client = DICOMwebClient(self.url, session=session)
        self.client.set_http_retry_params(
            retry=True,
            max_attempts=retries + 1,
            wait_exponential_multiplier=int(backoff * 1000),
            retriable_error_codes=RETRIED_STATUS,
        )

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, its failure a :class:`PACSError` naming the server and ``what``."""
        try:
            return call()
        except requests.Timeout:
            raise PACSError(f"{self.url}: {what}: no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as e:
            reason = getattr(e.args[0], "reason", None) if e.args else None
            if isinstance(reason, ReadTimeoutError):  # urllib3's retry gave up on a read that timed out
                raise PACSError(f"{self.url}: {what}: no answer within {self.timeout:g} s") from None
            raise PACSError(
                f"{self.url}: {what}: not reachable after {self.retries + 1} tries ({type(e).__name__})"
            ) from None
        except RetryError as e:  # dicomweb_client's tries of a 429/502/503/504 answer ran out
            status = getattr(e.last_attempt.value, "status_code", "?")
            raise PACSError(f"{self.url}: {what}: HTTP {status} after {self.retries + 1} tries") from None
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else "?"
            detail = (e.response.text or "")[:300].strip() if e.response is not None else ""
            if status == 404:
                raise PACSError(f"{self.url}: {what}: not found (HTTP 404; deleted since it was listed?)") from None
            if status in (401, 403):
                raise PACSError(
                    f"{self.url}: {what}: HTTP {status}, access refused: credentials missing or not accepted "
                    f"(the command lines read {USERNAME_VARIABLE} and {PASSWORD_VARIABLE})"
                ) from None
            raise PACSError(f"{self.url}: {what}: HTTP {status} {detail}".rstrip()) from None

    # --- query (QIDO-RS) ---
    def search_series(self, **filters: str) -> list[Dataset]:
        """The series matching ``filters`` (DICOM keywords: ``Modality="CR"``, ``StudyInstanceUID=...``)."""
        what = "series search " + " ".join(f"{k}={v}" for k, v in filters.items())
        found = self._call(what, lambda: self.client.search_for_series(search_filters=filters))
        return [Dataset.from_json(item) for item in found]

    def radiograph_series(self, **filters: str) -> list[Dataset]:
        """The CR and DX series (one search per modality), with ``filters`` too."""
        return [s for modality in ACCEPTED_MODALITIES for s in self.search_series(Modality=modality, **filters)]

    def has_instance(self, sop_instance_uid: str) -> bool:
        """Whether the server holds an instance of this SOP Instance UID."""
        found = self._call(
            f"instance search SOPInstanceUID={sop_instance_uid}",
            lambda: self.client.search_for_instances(search_filters={"SOPInstanceUID": sop_instance_uid}),
        )
        return bool(found)

    def series_metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """The instances' metadata of a series (WADO-RS metadata: headers, no pixels)."""
        found = self._call(
            f"metadata of series {series_uid} (study {study_uid})",
            lambda: self.client.retrieve_series_metadata(study_uid, series_uid),
        )
        return [Dataset.from_json(item) for item in found]

    # --- retrieve (WADO-RS) ---
    def retrieve_study(self, study_uid: str) -> list[Dataset]:
        """Every instance of a study; a study the server does not hold (any more) is a :class:`PACSError`."""
        instances = self._call(f"study {study_uid}", lambda: self.client.retrieve_study(study_uid))
        if not instances:
            raise PACSError(f"{self.url}: study {study_uid}: not found (no instance)")
        return instances

    def retrieve_series(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """Every instance of a series."""
        what = f"series {series_uid} (study {study_uid})"
        instances = self._call(what, lambda: self.client.retrieve_series(study_uid, series_uid))
        if not instances:
            raise PACSError(f"{self.url}: {what}: not found (no instance)")
        return instances

    # --- store (STOW-RS) ---
    def store(self, datasets: Sequence[Dataset]) -> StoreResult:
        """Store ``datasets`` in one STOW-RS request; the answer says which were stored and which refused.
        A request the server refuses whole is a :class:`PACSError`."""
        uids = [str(ds.SOPInstanceUID) for ds in datasets]
        answer = self._call(f"store of {', '.join(uids)}", lambda: self.client.store_instances(list(datasets)))
        result = StoreResult()
        for item in answer.get("ReferencedSOPSequence", []):
            result.stored.append(str(item.ReferencedSOPInstanceUID))
        for item in answer.get("FailedSOPSequence", []):
            reason = item.get("FailureReason", "?")
            result.failed[str(item.ReferencedSOPInstanceUID)] = f"failure reason {reason}"
        for uid in uids:  # an answer that names neither: not stored, as far as this client knows
            if uid not in result.stored and uid not in result.failed:
                result.failed[uid] = "not in the server's answer"
        return result
