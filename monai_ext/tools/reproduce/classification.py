"""The study's classification steps: a COVIDx data list with the study's masks, and each classifier trained,
run on the images the input gate must refuse, and evaluated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from monai_ext.constants import MANIFEST_FILE, METRICS_FILE, MODEL_FILE, PREDICTIONS_FILE
from monai_ext.tools.reproduce.bundle_steps import bundle_step, module_step
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.profiles import cls_settings
from monai_ext.tools.reproduce.steps import Step

__all__ = ["ClassifierData", "classifier_grid_steps", "classifier_steps", "covidx_list_step"]


@dataclass(frozen=True)
class ClassifierData:
    """What an experiment's classifiers are trained and judged on.

    Attributes:
        dataset: the COVIDx-layout folder of the images.
        masks: their lung masks (the study's segmenter's).
        datalist: the data list; its ``test`` split is the evaluation's.
        in_source: the list was built with ``--test-sources``: evaluate on ``test_in_source`` too (the
            held-out patients of the training sources).
        ood: ``(images, their masks)`` the input gate must refuse (:func:`~monai_ext.tools.reproduce.gate.gate_steps`),
            or None: no gate run.
    """

    dataset: Path
    masks: Path
    datalist: Path
    in_source: bool = False
    ood: tuple[Path, Path] | None = None


def covidx_list_step(name: str, profile: dict, root: Path, masks: Path, out: Path, inputs: list[Path], *extra) -> Step:
    """The binary COVIDx data list of ``root`` with the masks under ``masks`` (``extra``: more builder options)."""
    return module_step(
        name,
        "monai_ext.tools.data_lists",
        [
            "covidx",
            "--root",
            root,
            "--masks",
            masks,
            "--classes",
            "binary",
            "--val-fraction",
            profile["val_fraction"],
            "--seed",
            profile["seed"],
            "--out",
            out,
            *extra,
        ],
        outputs=[out],
        inputs=inputs,
    )


def classifier_steps(
    name: str, backbone: str, mode: str, folder: Path, data: ClassifierData, settings: Mapping, profile: dict
) -> list[Step]:
    """One classifier (``backbone`` on input ``mode`` with ``settings``, in ``folder``): trained
    (``models``), run on the gate's images (``gate``) when ``data.ood`` is given, and evaluated on the data
    list's test split (``eval``) and, with ``data.in_source``, on ``test_in_source`` (``eval_in_source``)."""
    model = folder / "models" / MODEL_FILE
    common = {
        "dataset_dir": data.dataset,
        "mask_dir": data.masks,
        "datalist": data.datalist,
        "backbone": backbone,
        "input_mode": mode,
        "ckpt_dir": folder / "models",
        "image_size": settings["image_size"],
        "num_workers": 0,
        "seed": profile["seed"],
    }
    steps = [
        bundle_step(
            f"{name}_train",
            "cls",
            ["train"],
            {**common, "output_dir": folder / "train"} | {k: v for k, v in settings.items() if k != "image_size"},
            outputs=[model],
            inputs=[data.datalist],
            workflow="training",
            settings=settings,
            work_dirs=[folder / "train", folder / "models"],
            resume=True,
        )
    ]
    if data.ood is not None:  # the input gate on what is not a chest radiograph, with the masks segmented once
        images, masks = data.ood
        steps.append(
            bundle_step(
                f"{name}_gate",
                "cls",
                ["inference"],
                {
                    "dataset_dir": images,
                    "mask_dir": masks,
                    "ckpt_dir": folder / "models",
                    "num_workers": 0,
                    "output_dir": folder / "gate",
                },
                outputs=[folder / "gate" / PREDICTIONS_FILE],
                inputs=[model, masks / MANIFEST_FILE],
                work_dirs=[folder / "gate"],
            )
        )
    splits = {"eval": "test", **({"eval_in_source": "test_in_source"} if data.in_source else {})}
    for out, split in splits.items():
        steps.append(
            bundle_step(
                f"{name}_{out.replace('eval', 'evaluate')}",
                "cls",
                ["train", "evaluate"],
                {
                    **common,
                    "output_dir": folder / out,
                    "eval_split": split,
                    "n_bootstrap": profile["n_bootstrap"],
                    "saliency": True,
                },
                outputs=[folder / out / METRICS_FILE],
                inputs=[data.datalist, model],
                workflow="evaluating",
                work_dirs=[folder / out],
            )
        )
    return steps


def classifier_grid_steps(
    prefix: str,
    experiment: Path,
    grid: Mapping[str, Sequence[str]],
    data: ClassifierData,
    profile: dict,
    overrides: Mapping | None = None,
) -> list[Step]:
    """:func:`classifier_steps` of each backbone of ``grid`` on each of its input modes, named
    ``<prefix><backbone>_<mode>``, in the experiment's folder (:meth:`StudyPaths.experiment_cls`), with the
    profile's settings of the backbone (:func:`~monai_ext.tools.reproduce.profiles.cls_settings`) changed by
    ``overrides``."""
    steps = []
    for backbone, modes in grid.items():
        settings = {**cls_settings(profile, backbone), **(overrides or {})}
        for mode in modes:
            folder = StudyPaths.experiment_cls(experiment, backbone, mode)
            steps += classifier_steps(f"{prefix}{backbone}_{mode}", backbone, mode, folder, data, settings, profile)
    return steps
