"""MONAI extensions for the chest X-ray lung segmentation and COVID-19 classification bundles.

Only what MONAI, Ignite, pydicom, scikit-image and torchvision lack lives here, in three layers:

- the library: ``constants``, ``errors`` and ``utils`` at the bottom; ``data`` and ``metrics``; ``gate``,
  ``transforms``, ``networks``, ``inferers`` and ``visualize``; ``bundle`` and ``handlers``; ``api`` (the
  two-line Python API) on top of them;
- ``apps``: the applications built on the library: MONAI Label (``apps.label``), MONAI Deploy
  (``apps.deploy``) and the PACS side they share (``apps.pacs``);
- ``tools``: the project's own commands: the synthetic dataset, data-list builders, the study driver and
  its report, benchmarks, the model-zoo checks, weights, release and the demo summary.

A layer imports only from the layers below it (``make lint`` checks it: the contracts in ``pyproject.toml``).
"""

__version__ = "0.1.0"

from monai_ext.errors import install_excepthook

install_excepthook()  # a failed command's last lines are the project's message, not MONAI's wrapper

from monai_ext import bundle, data, handlers, inferers, networks, tools, transforms
from monai_ext.api import CovidClassifier, LungSegmenter

__all__ = [
    "CovidClassifier",
    "LungSegmenter",
    "__version__",
    "bundle",
    "data",
    "handlers",
    "inferers",
    "networks",
    "tools",
    "transforms",
]
