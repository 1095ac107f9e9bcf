"""MONAI data-list builders for COVID-QU-Ex and COVIDx CXR-3 (``python -m monai_ext.tools.data_lists``)."""

from monai_ext.tools.data_lists.common import format_counts, grouped_stratified_split, write_datalist
from monai_ext.tools.data_lists.covid_qu_ex import build_covid_qu_ex
from monai_ext.tools.data_lists.covidx import CLASS_SETS, build_covidx, read_label_list, source_classes
from monai_ext.tools.data_lists.site import recalibration_split

__all__ = [
    "CLASS_SETS",
    "build_covid_qu_ex",
    "build_covidx",
    "format_counts",
    "grouped_stratified_split",
    "read_label_list",
    "recalibration_split",
    "source_classes",
    "write_datalist",
]
