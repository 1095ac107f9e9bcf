"""The study's segmentation steps: the COVID-QU-Ex data list, the lung segmenter trained and evaluated, its
masks of the test split, and the masks of any folder of radiographs by the study's model."""

from __future__ import annotations

from pathlib import Path

from monai_ext.constants import METRICS_SUMMARY_FILE
from monai_ext.tools.reproduce.bundle_steps import bundle_step, module_step
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.steps import Step

__all__ = ["label_lists", "segment_folder_step", "segmentation_steps"]


def label_lists(root: Path) -> list[Path]:
    """The published COVIDx label lists of ``root`` (``*.txt``): a data list built from ``root`` depends on them."""
    return sorted(root.glob("*.txt"))


def segmentation_steps(paths: StudyPaths, profile: dict) -> list[Step]:
    """The COVID-QU-Ex data list, then the segmenter trained (``seg/models``), evaluated on the test split
    (``seg/eval``) and its masks of the test split written (``seg/test_masks``)."""
    seg, seed, datalist, model = profile["seg"], profile["seed"], paths.qu_ex_list, paths.seg_model
    common = {
        "dataset_dir": paths.qu_ex,
        "datalist": datalist,
        "num_workers": 0,
        "ckpt_dir": paths.seg_models,
        "image_size": seg["image_size"],
    }
    return [
        module_step(
            "lists_qu_ex",
            "monai_ext.tools.data_lists",
            # --test-fraction is used only where the dataset has no Test folder
            [
                "covid-qu-ex",
                "--root",
                paths.qu_ex,
                "--out",
                datalist,
                "--test-fraction",
                profile["val_fraction"],
                "--seed",
                seed,
            ],
            outputs=[datalist],
        ),
        bundle_step(
            "seg_train",
            "seg",
            ["train"],
            {**common, "output_dir": paths.seg / "train", "seed": seed}
            | {k: v for k, v in seg.items() if k != "image_size"},
            outputs=[model],
            inputs=[datalist],
            workflow="training",
            settings=seg,
            work_dirs=[paths.seg / "train", paths.seg_models],
            resume=True,
        ),
        bundle_step(
            "seg_evaluate",
            "seg",
            ["train", "evaluate"],
            {**common, "output_dir": paths.seg / "eval", "eval_split": "test"},
            outputs=[paths.seg / "eval" / METRICS_SUMMARY_FILE],
            inputs=[datalist, model],
            workflow="evaluating",
            work_dirs=[paths.seg / "eval"],
        ),
        bundle_step(
            "seg_test_masks",
            "seg",
            ["inference"],
            {**common, "split": "test", "output_dir": paths.seg / "test_masks"},
            outputs=[paths.seg / "test_masks"],
            inputs=[datalist, model],
            work_dirs=[paths.seg / "test_masks"],
        ),
    ]


def segment_folder_step(
    name: str, paths: StudyPaths, profile: dict, dataset: Path, out: Path, inputs: list[Path]
) -> Step:
    """Lung masks of every image under ``dataset`` by the study's segmenter, into ``out`` (``inputs``: what
    the folder's images come from)."""
    return bundle_step(
        name,
        "seg",
        ["inference"],
        {
            "dataset_dir": dataset,
            "ckpt_dir": paths.seg_models,
            "image_size": profile["seg"]["image_size"],
            "num_workers": 0,
            "output_dir": out,
        },
        outputs=[out],
        inputs=[paths.seg_model, *inputs],
        work_dirs=[out],
    )
