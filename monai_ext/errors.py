"""The project's own error types: each names the file or list at fault and says what is wrong; and the
hook that makes such a message the last thing a failed command prints."""

from __future__ import annotations

import os
import sys
from types import TracebackType

__all__ = [
    "SUMMARY_PREFIX",
    "CXRError",
    "CXRReadError",
    "DataListError",
    "SettingError",
    "error_summary",
    "install_excepthook",
    "project_error",
]


class CXRError(ValueError):
    """Base class of the errors this project raises for bad input."""


class CXRReadError(CXRError):
    """A chest X-ray file cannot be read as one 2-D radiograph."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DataListError(CXRError):
    """A dataset layout or label list cannot be turned into a data list."""


class SettingError(CXRError, TypeError):
    """A setting of the wrong type (``--amp false`` arrives as a string, not a bool)."""


#: how the line that sums up a failure starts (a study step's log is searched for it)
SUMMARY_PREFIX = "cxr-monai error"


def project_error(exc: BaseException | None) -> CXRError | None:
    """The first of the project's errors in ``exc``'s chain (``raise ... from``, or raised while handling):
    MONAI's config parser wraps what a config expression raised in a ``RuntimeError`` of its own."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, CXRError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def error_summary(exc: BaseException | None) -> str | None:
    """The line (or lines) a user needs of a failure: the project's message, when the chain holds one."""
    error = project_error(exc)
    return None if error is None else f"{SUMMARY_PREFIX} ({type(error).__name__}): {error}"


_installed = False


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    _previous(kind, value, tb)
    summary = error_summary(value)
    if summary:
        print(f"\n{summary}", file=sys.stderr)


def install_excepthook() -> None:
    """Make the project's message the last lines a failed command prints (the bundles' CLI, the study, the
    MONAI Label and Deploy apps): the traceback stays above it for whoever needs it. Installed when
    ``monai_ext`` is imported, as every bundle config does; idempotent."""
    global _installed, _previous
    if not _installed:
        _previous, sys.excepthook, _installed = sys.excepthook, _excepthook, True


_previous = sys.excepthook
