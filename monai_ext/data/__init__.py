"""Reading and writing chest radiographs and masks."""

from monai_ext.data.datalist import (
    classification_items,
    datalist_classes,
    find_cxr_images,
    inference_items,
    readable_items,
    segmentation_items,
)
from monai_ext.data.image_reader import IMAGE_SUFFIXES, detect_format, is_cxr_file, read_cxr
from monai_ext.data.image_writer import mask_name_for, write_dicom_cr, write_png

__all__ = [
    "IMAGE_SUFFIXES",
    "classification_items",
    "datalist_classes",
    "find_cxr_images",
    "inference_items",
    "readable_items",
    "segmentation_items",
    "detect_format",
    "is_cxr_file",
    "mask_name_for",
    "read_cxr",
    "write_dicom_cr",
    "write_png",
]
