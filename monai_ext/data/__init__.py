"""Reading and writing chest radiographs and masks; data lists and the inputs of batch jobs."""

from monai_ext.data.datalist import classification_items, datalist_classes, read_datalist, segmentation_items
from monai_ext.data.image_reader import (
    IMAGE_SUFFIXES,
    colourfulness,
    detect_format,
    image_shape,
    is_cxr_file,
    radiograph_problem,
    read_cxr,
)
from monai_ext.data.image_writer import mask_name_for, write_dicom_cr, write_png
from monai_ext.data.inputs import (
    InputScan,
    ManifestStatus,
    find_cxr_images,
    mask_lookup,
    mask_path_for,
    read_manifest,
    readable_items,
    scan_classification_inputs,
    scan_segmentation_inputs,
)
from monai_ext.data.output_dir import OutputDirBusyError, RunStatus, claim_output_dir, finish_output_dir, run_status
from monai_ext.data.paths import OutputCollisionError, output_names, refuse_outputs_over_inputs, resolve_inside

__all__ = [
    "IMAGE_SUFFIXES",
    "InputScan",
    "ManifestStatus",
    "OutputCollisionError",
    "OutputDirBusyError",
    "RunStatus",
    "claim_output_dir",
    "classification_items",
    "colourfulness",
    "datalist_classes",
    "detect_format",
    "find_cxr_images",
    "finish_output_dir",
    "image_shape",
    "is_cxr_file",
    "mask_lookup",
    "mask_name_for",
    "mask_path_for",
    "output_names",
    "radiograph_problem",
    "read_cxr",
    "read_datalist",
    "read_manifest",
    "readable_items",
    "refuse_outputs_over_inputs",
    "resolve_inside",
    "run_status",
    "scan_classification_inputs",
    "scan_segmentation_inputs",
    "segmentation_items",
    "write_dicom_cr",
    "write_png",
]
