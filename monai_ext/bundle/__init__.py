"""Bundle helpers: locating a bundle and its files (``locate``), the defaults and small values its
configs call (``defaults``), parsing its configs (``parsing``), MONAI bundle command lines and export
(``commands``), lung masks predicted on the fly by the segmentation bundle (``lung_masks``), the model folder: its files, their one read and validation (``model_folder``), its model card
(``model_card``), and its recalibration for a new site (``recalibration``, a workflow run once)."""

from monai_ext.bundle.commands import bundle_command, export_torchscript, override_args
from monai_ext.bundle.defaults import class_weight_tensor, default_data_path, default_mask_dir
from monai_ext.bundle.locate import LARGE_FILES, find_bundle_root, large_file_entries
from monai_ext.bundle.lung_masks import LungMaskPredictor, PredictLungMaskD, PredictLungMaskd, PredictLungMaskDict
from monai_ext.bundle.model_card import training_data_summary, write_model_card
from monai_ext.bundle.model_folder import (
    ModelFolder,
    ModelSettingsError,
    read_model_folder,
    write_class_names,
    write_model_settings,
)
from monai_ext.bundle.parsing import inference_parser
from monai_ext.bundle.recalibration import Recalibration

__all__ = [
    "LARGE_FILES",
    "LungMaskPredictor",
    "ModelFolder",
    "ModelSettingsError",
    "PredictLungMaskD",
    "PredictLungMaskDict",
    "PredictLungMaskd",
    "Recalibration",
    "bundle_command",
    "class_weight_tensor",
    "default_data_path",
    "default_mask_dir",
    "export_torchscript",
    "find_bundle_root",
    "inference_parser",
    "large_file_entries",
    "override_args",
    "read_model_folder",
    "training_data_summary",
    "write_class_names",
    "write_model_card",
    "write_model_settings",
]
