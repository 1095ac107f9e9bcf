"""Synthetic chest X-ray data: the embedded default dataset (``python -m monai_ext.synthetic``)."""

from monai_ext.synthetic.dataset import write_synthetic_dataset
from monai_ext.synthetic.phantom import CLASSES, Phantom, make_phantom

__all__ = ["CLASSES", "Phantom", "make_phantom", "write_synthetic_dataset"]
