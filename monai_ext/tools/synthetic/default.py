"""The checkout's embedded default dataset: written in one place, on purpose, never as a side effect of
reading. ``make data``, the study and the bundles' ``initialize`` (when their ``dataset_dir`` is the
default) call :func:`ensure_default_data`; the readers in :mod:`monai_ext.data` only read."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from monai_ext.constants import DATA_LISTS_ROOT, SYNTHETIC_ROOT, in_checkout
from monai_ext.tools.synthetic.dataset import DEFAULTS, write_synthetic_dataset

__all__ = ["DefaultDataError", "default_datalist", "ensure_default_data"]

logger = logging.getLogger(__name__)

_OUTSIDE_CHECKOUT = (
    "the embedded synthetic data is part of the cxr-monai repository's checkout, and this installation "
    "(a wheel) has none: pass your own --datalist and --dataset_dir, or write a synthetic dataset with "
    "`python -m monai_ext.tools.synthetic --out DIR` and its data list with `python -m monai_ext.tools.data_lists`"
)


class DefaultDataError(FileNotFoundError):
    """A command fell back on the repository's default data where there is no repository."""


def ensure_default_data(path: str | os.PathLike | None) -> None:
    """Write the synthetic default dataset (seed 0, as ``make data``; about 30 s) when ``path`` lies inside
    it and it is not there yet; nothing for any other path.

    Raises:
        DefaultDataError: ``path`` is the default and the package is not running from a checkout.
    """
    if path is None or not Path(path).resolve().is_relative_to(SYNTHETIC_ROOT.resolve()):
        return
    if (SYNTHETIC_ROOT / "synthetic.json").is_file():
        return
    if not in_checkout():
        raise DefaultDataError(f"{path}: {_OUTSIDE_CHECKOUT}")
    logger.warning("writing the synthetic default dataset to %s (first use, about 30 s)", SYNTHETIC_ROOT)
    write_synthetic_dataset(SYNTHETIC_ROOT, **DEFAULTS)


def default_datalist(name: str) -> str:
    """The path of the checkout's data list ``data_lists/<name>``, the training configs' default.

    Raises:
        DefaultDataError: there is no checkout (an installed wheel) or no such data list in it.
    """
    path = DATA_LISTS_ROOT / name
    if not in_checkout():
        raise DefaultDataError(f"default data list {name!r}: {_OUTSIDE_CHECKOUT}")
    if not path.is_file():
        raise DefaultDataError(f"{path}: no such data list (make data writes the synthetic ones)")
    return str(path)
