"""Leave-one-source-out: each COVIDx source held out whole in turn, every backbone trained without it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from monai_ext.networks.backbones import BACKBONES
from monai_ext.tools.data_lists.covidx import source_classes
from monai_ext.tools.reproduce.classification import ClassifierData, classifier_grid_steps, covidx_list_step
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.segmentation import label_lists
from monai_ext.tools.reproduce.steps import Step

__all__ = ["held_out_sources", "leave_one_source_out_steps"]


def held_out_sources(covidx: Path, min_images: int) -> list[str]:
    """The sources leave-one-source-out holds out: each with both classes or at least ``min_images``
    images, provided the other sources still have both classes to train on."""
    counts = source_classes(covidx)
    chosen = []
    for source, classes in counts.items():
        rest = Counter()
        for other, c in counts.items():
            if other != source:
                rest.update(c)
        if (len(classes) == 2 or sum(classes.values()) >= min_images) and len(rest) == 2:
            chosen.append(source)
    return chosen


def leave_one_source_out_steps(paths: StudyPaths, profile: dict, backbones=BACKBONES) -> list[Step]:
    """For each source :func:`held_out_sources` picks: the data list that holds it out whole
    (``--test-sources S``), then each of ``backbones`` the profile's ``leave_one_source_out`` names (its
    ``backbones``; all of them when it names none) on its ``modes``, trained without S and evaluated on S
    and on the other sources' published test images."""
    how = profile["leave_one_source_out"]
    backbones = [b for b in backbones if b in how.get("backbones", backbones)]
    steps = []
    for source in held_out_sources(paths.covidx, how["min_images"]):
        folder = paths.loso(source)
        datalist = folder / "covidx.json"
        steps.append(
            covidx_list_step(
                f"loso_{source}_list",
                profile,
                paths.covidx,
                paths.masks,
                datalist,
                [paths.seg_model, *label_lists(paths.covidx)],
                "--test-sources",
                source,
            )
        )
        data = ClassifierData(paths.covidx, paths.masks, datalist, in_source=True)
        steps += classifier_grid_steps(f"loso_{source}_", folder, {b: how["modes"] for b in backbones}, data, profile)
    return steps
