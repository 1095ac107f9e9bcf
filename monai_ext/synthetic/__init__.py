"""Synthetic chest X-ray data: the embedded default dataset (``python -m monai_ext.synthetic``), written
only by :func:`ensure_default_data`."""

from monai_ext.synthetic.dataset import write_synthetic_dataset
from monai_ext.synthetic.default import DefaultDataError, default_datalist, ensure_default_data
from monai_ext.synthetic.phantom import CLASSES, Phantom, make_phantom

__all__ = [
    "CLASSES",
    "DefaultDataError",
    "Phantom",
    "default_datalist",
    "ensure_default_data",
    "make_phantom",
    "write_synthetic_dataset",
]
