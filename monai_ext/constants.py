"""The project's names, each defined once: data keys, file suffixes, input modes, splits,
bundle names and where the repository and its default data are."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from monai.utils import StrEnum

__all__ = [
    "BINARY_CLASSES",
    "BUNDLE_NAMES",
    "CLS_BUNDLE",
    "DATA_LISTS_ROOT",
    "IMAGE_SUFFIXES",
    "INPUT_MODES",
    "REPO_ROOT",
    "SEG_BUNDLE",
    "SPLITS",
    "SYNTHETIC_ROOT",
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


def positive_index(classes: Sequence[str] | int) -> int:
    """The index of a binary model's positive class: its last class (``classes``: the class names or
    their number). Every binary figure, threshold and decision of the project is of this class."""
    return (classes if isinstance(classes, int) else len(classes)) - 1


def in_checkout() -> bool:
    """Whether the package runs from this repository's checkout (its defaults' data lists beside it),
    not from an installed wheel."""
    return (REPO_ROOT / "pyproject.toml").is_file() and DATA_LISTS_ROOT.is_dir()
