"""MONAI extensions for the chest X-ray lung segmentation and COVID-19 classification bundles.

Only what MONAI, Ignite, pydicom, scikit-image and torchvision lack lives here:
CXR loading (PNG/JPEG/DICOM), lung-mask transforms, the FPN-DenseNet121 network
wrapper, data-list builders, the synthetic dataset, reporting and the study driver.
"""

__version__ = "0.1.0"

from monai_ext.errors import install_excepthook

install_excepthook()  # a failed command's last lines are the project's message, not MONAI's wrapper

from monai_ext import bundle, data, data_lists, handlers, inferers, networks, synthetic, transforms
from monai_ext.api import CovidClassifier, LungSegmenter

__all__ = [
    "CovidClassifier",
    "LungSegmenter",
    "__version__",
    "bundle",
    "data",
    "data_lists",
    "handlers",
    "inferers",
    "networks",
    "synthetic",
    "transforms",
]
