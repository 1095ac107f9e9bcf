"""Bundle helpers: locating a bundle and its files (``locate``), the defaults and small values its
configs call (``defaults``), parsing its configs (``parsing``), MONAI bundle command lines and export
(``commands``), the settings a model folder keeps (``model_settings``)."""

from monai_ext.bundle.commands import bundle_command, export_torchscript, override_args
from monai_ext.bundle.defaults import (
    CLASSES_FILE,
    class_weight_tensor,
    default_data_path,
    default_mask_dir,
    ensure_default_data,
    read_class_names,
    write_class_names,
)
from monai_ext.bundle.locate import LARGE_FILES, find_bundle_root, large_file_entries
from monai_ext.bundle.model_settings import (
    CALIBRATION_FILE,
    SETTINGS_FILE,
    ModelSettingsError,
    check_model_settings,
    model_setting,
    read_calibration,
    read_model_settings,
    write_model_settings,
)
from monai_ext.bundle.parsing import inference_parser
from monai_ext.constants import REPO_ROOT

__all__ = [
    "CALIBRATION_FILE",
    "CLASSES_FILE",
    "LARGE_FILES",
    "REPO_ROOT",
    "SETTINGS_FILE",
    "ModelSettingsError",
    "bundle_command",
    "check_model_settings",
    "class_weight_tensor",
    "default_data_path",
    "default_mask_dir",
    "ensure_default_data",
    "export_torchscript",
    "find_bundle_root",
    "inference_parser",
    "large_file_entries",
    "model_setting",
    "override_args",
    "read_calibration",
    "read_class_names",
    "read_model_settings",
    "write_class_names",
    "write_model_settings",
]
