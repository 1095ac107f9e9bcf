"""The project's names, each defined once: data keys, file suffixes, input modes, splits,
bundle names and where the repository and its default data are."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from monai.utils import StrEnum

__all__ = [
    "BINARY_CLASSES",
    "BUNDLE_NAMES",
    "CALIBRATION_FILE",
    "CLASSES_FILE",
    "CLS_BUNDLE",
    "DATA_LISTS_ROOT",
    "GATE_FEATURES_FILE",
    "GATE_FILE",
    "IMAGE_SUFFIXES",
    "INPUT_MODES",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "METRICS_CSV_FILE",
    "METRICS_FILE",
    "METRICS_SUMMARY_FILE",
    "MODEL_CARD_FILE",
    "MODEL_FILE",
    "PREDICTIONS_FILE",
    "PRIOR_SHIFT_FILE",
    "PRIOR_SHIFT_PREDICTIONS_FILE",
    "REPO_ROOT",
    "RUN_FILE",
    "SALIENCY_FILE",
    "SALIENCY_SUMMARY_FILE",
    "SEG_BUNDLE",
    "SETTINGS_FILE",
    "SPLITS",
    "SYNTHETIC_ROOT",
    "TORCHSCRIPT_FILE",
    "Keys",
    "in_checkout",
    "positive_index",
]


class Keys(StrEnum):
    """Keys of the data dictionaries the bundles' transforms and handlers pass along."""

    IMAGE = "image"  #: the radiograph (a path, then the loaded image)
    LUNG = "lung"  #: its lung mask (a path, then the loaded mask)
    LABEL = "label"  #: the training target: the lung mask in segmentation, the class index in classification
    PRED = "pred"  #: the network output after postprocessing
    NAME = "name"  #: the input's path relative to its dataset folder: names outputs and report rows
    MASK_NAME = "mask_name"  #: the mask file a segmentation batch job writes for the input, relative to output_dir
    MASK_SOURCE = "mask_source"  #: where a classification input's mask came from: file, predicted or none
    MASK_FLAGS = "mask_flags"  #: the lung-mask plausibility checks the mask failed, "; "-joined
    WRITE_ERROR = "write_error"  #: why an item's output file could not be written (the item is then skipped)
    TTA_DISAGREEMENT = "tta_disagreement"  #: 1 - IoU of the lung masks of the segmenter's test-time passes
    CLASS_NAME = "class_name"  #: a data-list item's class, by name (segmentation items carry it to group figures)
    PATIENT_ID = "patient_id"
    SOURCE = "source"  #: the dataset source (hospital, collection) an image comes from


#: file name suffixes taken as radiographs when a folder is scanned (lower case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
#: what the classifier sees: the whole radiograph, the lungs only, everything but the lungs
INPUT_MODES = ("cxr", "lung", "no_lung")
#: the class names of a binary model (COVIDx CXR-3's own, the embedded data's), positive last
#: (:func:`positive_index`)
BINARY_CLASSES = ("negative", "positive")
#: the splits of a data list, in order
SPLITS = ("training", "validation", "test")
#: the two bundles under ``bundles/``
SEG_BUNDLE = "cxr_lung_segmentation"
CLS_BUNDLE = "cxr_covid_classification"
BUNDLE_NAMES = (SEG_BUNDLE, CLS_BUNDLE)
#: the folder above the package: this repository's checkout when the project runs from one (an editable
#: install), else the site-packages the package was installed into (:func:`in_checkout` tells which)
REPO_ROOT = Path(__file__).resolve().parents[1]
#: the checkout's embedded default dataset (``make data``, a bundle's ``initialize``, the study)
SYNTHETIC_ROOT = REPO_ROOT / "data" / "synthetic"
#: the checkout's data lists of the embedded dataset
DATA_LISTS_ROOT = REPO_ROOT / "data_lists"


# File names: each file the project writes into a model folder or an output folder, named once here; code and
# configs use the name (a test greps monai_ext/ and the bundles' configs for the literals).

#: model folder (a bundle's ``models/``): the weights (a plain state dict), as MONAI bundles name them
MODEL_FILE = "model.pt"
#: model folder: the weights exported to TorchScript (``python -m monai.bundle ckpt_export``)
TORCHSCRIPT_FILE = "model.ts"
#: model folder: the training run's settings, beside the weights
SETTINGS_FILE = "settings.json"
#: model folder: the class names of a model, in label order
CLASSES_FILE = "classes.json"
#: model folder: temperature and operating threshold fitted on validation
CALIBRATION_FILE = "calibration.json"
#: model folder: the input gate's out-of-distribution threshold and what it was set on (:mod:`monai_ext.gate`)
GATE_FILE = "gate.json"
#: model folder: the training features' density the gate measures distances with (plain tensors)
GATE_FEATURES_FILE = "gate_features.pt"
#: model folder: the model card: what the model was trained on, how it scored, what it is for (never read back)
MODEL_CARD_FILE = "MODEL_CARD.md"
#: output folder: every input of a batch job with what was written or why it was skipped; a folder holding one
#: is a project output and is never scanned as input
MANIFEST_FILE = "manifest.csv"
#: output folder: the job's record: status, process, host, start and end times, command line
RUN_FILE = "run.json"
#: output folder: the lock a job holds on it while it runs (one job per output folder; hidden: never scanned as input)
LOCK_FILE = ".cxr-monai.lock"
#: output folder: a classification run's per-image probabilities and decisions
PREDICTIONS_FILE = "predictions.csv"
#: output folder: a run's metrics with their 95% intervals (and the same as a table, :data:`METRICS_CSV_FILE`)
METRICS_FILE = "metrics.json"
#: output folder: :data:`METRICS_FILE` as rows (scope, class, metric, value, interval, counts)
METRICS_CSV_FILE = "metrics.csv"
#: output folder: a segmentation evaluation's mean Dice and the rest of its metrics, with intervals, by class
METRICS_SUMMARY_FILE = "metrics_summary.json"
#: output folder: per image, the Grad-CAM map's share inside the lungs and the map's file
SALIENCY_FILE = "saliency.csv"
#: output folder: :data:`SALIENCY_FILE`'s means with 95% intervals, overall and per class
SALIENCY_SUMMARY_FILE = "saliency.json"
#: output folder: a site's class prior estimated from its unlabelled images, beside :data:`PREDICTIONS_FILE`
PRIOR_SHIFT_FILE = "prior_shift.json"
#: output folder: per image, the probabilities at the site's estimated prior
PRIOR_SHIFT_PREDICTIONS_FILE = "predictions_prior_shift.csv"


def positive_index(classes: Sequence[str] | int) -> int:
    """The index of a binary model's positive class: its last class (``classes``: the class names or
    their number). Every binary figure, threshold and decision of the project is of this class."""
    return (classes if isinstance(classes, int) else len(classes)) - 1


def in_checkout() -> bool:
    """Whether the package runs from this repository's checkout (its defaults' data lists beside it),
    not from an installed wheel."""
    return (REPO_ROOT / "pyproject.toml").is_file() and DATA_LISTS_ROOT.is_dir()
