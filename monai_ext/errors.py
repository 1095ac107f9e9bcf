"""The project's own error types: each names the file or list at fault and says what is wrong."""

from __future__ import annotations

import os

__all__ = ["CXRError", "CXRReadError", "DataListError"]


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
