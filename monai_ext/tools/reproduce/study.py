"""The whole study as a list of steps, each a documented command of the bundles or of ``monai_ext``: the
segmentation steps, the masks and data list of COVIDx, the input gate's images, the main table's
classifiers, then the two-hospital experiment and leave-one-source-out where the profile has them."""

from __future__ import annotations

from monai_ext.constants import INPUT_MODES
from monai_ext.networks.backbones import BACKBONES
from monai_ext.tools.reproduce.classification import ClassifierData, classifier_grid_steps, covidx_list_step
from monai_ext.tools.reproduce.gate import gate_steps
from monai_ext.tools.reproduce.loso import leave_one_source_out_steps
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.profiles import run_modes, test_sources
from monai_ext.tools.reproduce.segmentation import label_lists, segment_folder_step, segmentation_steps
from monai_ext.tools.reproduce.shortcut import shortcut_steps
from monai_ext.tools.reproduce.steps import Step

__all__ = ["study_steps"]


def study_steps(paths: StudyPaths, profile: dict, backbones=BACKBONES, modes=INPUT_MODES) -> list[Step]:
    """Every step of the study in order: segmentation (list, train, evaluate, test masks), masks for COVIDx,
    the classification data list (with the profile's ``test_sources`` held out whole as its test split, and
    each classifier also evaluated on the other sources' test images), the input gate's images when the
    profile has ``gate``, then train and evaluate each backbone on its input modes
    (:func:`~monai_ext.tools.reproduce.profiles.run_modes`); then the two-hospital experiment
    (:func:`~monai_ext.tools.reproduce.shortcut.shortcut_steps`) and leave-one-source-out when the profile
    has them."""
    held = test_sources(profile)
    steps = [
        *segmentation_steps(paths, profile),
        segment_folder_step("covidx_masks", paths, profile, paths.covidx, paths.masks, label_lists(paths.covidx)),
        covidx_list_step(
            "lists_covidx",
            profile,
            paths.covidx,
            paths.masks,
            paths.covidx_list,
            [paths.seg_model, *label_lists(paths.covidx)],
            *(["--test-sources", ",".join(held)] if held else []),
        ),
    ]
    ood = None
    if profile.get("gate"):
        steps += gate_steps(paths, profile)
        ood = (paths.gate_sets, paths.gate_masks)
    data = ClassifierData(paths.covidx, paths.masks, paths.covidx_list, in_source=bool(held), ood=ood)
    grid = {backbone: run_modes(profile, backbone, modes) for backbone in backbones}
    steps += classifier_grid_steps("cls_", paths.run_dir, grid, data, profile)
    if profile.get("shortcut"):
        steps += shortcut_steps(paths, profile)
    if profile.get("leave_one_source_out"):
        steps += leave_one_source_out_steps(paths, profile, backbones)
    return steps
