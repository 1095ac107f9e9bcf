"""Synthetic chest X-ray data: the embedded default dataset (``python -m monai_ext.tools.synthetic``), written
only by :func:`ensure_default_data`."""

from monai_ext.tools.synthetic.dataset import DEFAULTS, write_synthetic_dataset
from monai_ext.tools.synthetic.default import DefaultDataError, default_datalist, ensure_default_data
from monai_ext.tools.synthetic.phantom import CLASSES, Phantom, make_phantom

__all__ = [
    "CLASSES",
    "DEFAULTS",
    "DefaultDataError",
    "Phantom",
    "default_datalist",
    "ensure_default_data",
    "make_phantom",
    "write_synthetic_dataset",
]
