"""The project's own commands, above the library: the embedded synthetic dataset (``synthetic``), data lists
from the public datasets' layouts (``data_lists``), the study and its report (``reproduce``), benchmarks
(``bench``), the model zoo's checks (``zoo``), weights and their release (``weights``, ``release``), the demo
summary (``summary``) and the gate's targets on real radiographs (``gate_targets``). Each is a
``python -m monai_ext.tools.NAME`` command.

The bundles' configs reach the embedded dataset as ``monai_ext.tools.synthetic`` after ``import monai_ext``.
"""

from monai_ext.tools import data_lists, synthetic

__all__ = ["data_lists", "synthetic"]
