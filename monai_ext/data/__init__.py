"""Reading and writing chest radiographs and masks."""

from monai_ext.data.image_reader import IMAGE_SUFFIXES, detect_format, is_cxr_file, read_cxr
from monai_ext.data.image_writer import mask_name_for, write_dicom_cr, write_png

__all__ = [
    "IMAGE_SUFFIXES",
    "detect_format",
    "is_cxr_file",
    "mask_name_for",
    "read_cxr",
    "write_dicom_cr",
    "write_png",
]
