"""Where the study reads and writes: its run folder's layout, one property or method per place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monai_ext.constants import INPUT_MODES, MODEL_FILE
from monai_ext.networks.backbones import BACKBONES

__all__ = ["StudyPaths", "split_run_name"]


@dataclass
class StudyPaths:
    """Where the study reads and writes."""

    run_dir: Path
    qu_ex: Path  # COVID-QU-Ex "Lung Segmentation Data" root
    covidx: Path  # COVIDx CXR-3 root
    covidx_gt_masks: Path | None = None  # true masks of the COVIDx images (synthetic data only)
    synthetic: tuple[str, ...] = ()  # the datasets replaced by the embedded synthetic ones

    @property
    def seg(self) -> Path:
        return self.run_dir / "seg"

    @property
    def masks(self) -> Path:
        return self.run_dir / "masks"

    @property
    def lists(self) -> Path:
        return self.run_dir / "lists"

    def cls(self, backbone: str, mode: str) -> Path:
        return self.experiment_cls(self.run_dir, backbone, mode)

    @property
    def shortcut(self) -> Path:
        return self.run_dir / "shortcut"

    @property
    def gate_sets(self) -> Path:
        """The images the input gate must not answer on (:func:`monai_ext.tools.gate_targets.write_sets`)."""
        return self.run_dir / "gate" / "sets"

    @property
    def gate_masks(self) -> Path:
        return self.run_dir / "gate" / "masks"

    @property
    def qu_ex_list(self) -> Path:
        """The segmentation data list of :attr:`qu_ex`."""
        return self.lists / "qu_ex.json"

    @property
    def covidx_list(self) -> Path:
        """The main table's classification data list of :attr:`covidx`, with the study's masks."""
        return self.lists / "covidx.json"

    @property
    def shortcut_data(self) -> Path:
        """The two hospitals' images (:func:`monai_ext.tools.synthetic.hospitals.write_two_hospitals`)."""
        return self.shortcut / "data"

    @property
    def shortcut_masks(self) -> Path:
        return self.shortcut / "masks"

    @property
    def shortcut_list(self) -> Path:
        """The two-hospital data list: the second hospital held out whole as its test split."""
        return self.shortcut / "covidx.json"

    @property
    def seg_models(self) -> Path:
        """The study's segmentation model folder."""
        return self.seg / "models"

    @property
    def seg_model(self) -> Path:
        """The study's lung segmenter (the segmentation bundle's model folder's weights)."""
        return self.seg_models / MODEL_FILE

    @property
    def site_list(self) -> Path:
        """The second hospital's images split for recalibration (:func:`monai_ext.tools.data_lists.recalibration_split`)."""
        return self.shortcut / "site.json"

    def loso(self, source: str) -> Path:
        """The leave-one-source-out experiment that holds ``source`` out."""
        return self.run_dir / "loso" / source

    @staticmethod
    def experiment_cls(experiment: Path, backbone: str, mode: str) -> Path:
        """A classifier's folder in the study (``run_dir``) or a cross-source experiment (``shortcut``,
        ``loso/<source>``): ``cls/<backbone>_<mode>``."""
        return experiment / "cls" / f"{backbone}_{mode}"


def split_run_name(name: str) -> tuple[str, str]:
    """``(backbone, input mode)`` of a classifier folder's name (``vgg19_bn_no_lung`` -> ``vgg19_bn``,
    ``no_lung``), the inverse of :meth:`StudyPaths.experiment_cls`; both may hold underscores."""
    for backbone in BACKBONES:
        mode = name.removeprefix(f"{backbone}_")
        if mode != name and mode in INPUT_MODES:
            return backbone, mode
    raise ValueError(f"{name!r} is not <backbone>_<input mode> of {BACKBONES} and {INPUT_MODES}")
