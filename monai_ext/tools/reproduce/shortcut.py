"""The two-hospital shortcut experiment and the second hospital's recalibration and prior shift."""

from __future__ import annotations

from monai_ext.constants import CALIBRATION_FILE, METRICS_FILE, MODEL_FILE, PRIOR_SHIFT_FILE
from monai_ext.handlers.prior_shift import MIN_PRIOR_SHIFT_IMAGES
from monai_ext.tools.reproduce.bundle_steps import bundle_step, module_step
from monai_ext.tools.reproduce.classification import ClassifierData, classifier_grid_steps, covidx_list_step
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.segmentation import segment_folder_step
from monai_ext.tools.reproduce.steps import Step
from monai_ext.tools.synthetic.hospitals import HOSPITALS_FILE

__all__ = ["SHORTCUT_TEST_SOURCE", "recalibration_steps", "shortcut_steps"]

#: the hospital the shortcut experiment holds out whole as its test split
SHORTCUT_TEST_SOURCE = "hospital-b"


def shortcut_steps(paths: StudyPaths, profile: dict) -> list[Step]:
    """The two-hospital shortcut experiment (:mod:`monai_ext.tools.synthetic.hospitals`): write the hospitals,
    segment their lungs with the study's model, hold the second hospital out whole
    (``--test-sources hospital-b``), then train the profile's ``shortcut`` backbone on each of its modes
    and evaluate it on both hospitals; then the second hospital's recalibration (:func:`recalibration_steps`)."""
    how = profile["shortcut"]
    images, hospitals = paths.shortcut_data / "covidx", paths.shortcut_data / HOSPITALS_FILE
    synthetic = {"n_cls": how["n"], "size": how["size"], "seed": profile["seed"]}
    steps = [
        module_step(
            "shortcut_data",
            "monai_ext.tools.synthetic",
            [
                "--two-hospitals",
                "--out",
                paths.shortcut_data,
                *[f"--{k.replace('_', '-')}={v}" for k, v in synthetic.items()],
            ],
            outputs=[hospitals],
            settings=synthetic,
            work_dirs=[paths.shortcut_data],
        ),
        segment_folder_step("shortcut_masks", paths, profile, images, paths.shortcut_masks, [hospitals]),
        covidx_list_step(
            "shortcut_list",
            profile,
            images,
            paths.shortcut_masks,
            paths.shortcut_list,
            [paths.seg_model, hospitals],
            "--test-sources",
            SHORTCUT_TEST_SOURCE,
        ),
    ]
    data = ClassifierData(images, paths.shortcut_masks, paths.shortcut_list, in_source=True)
    grid = {how["backbone"]: how["modes"]}
    steps += classifier_grid_steps("shortcut_", paths.shortcut, grid, data, profile, how.get("cls"))
    if how.get("recalibrate"):
        steps += recalibration_steps(paths, profile)
    return steps


def recalibration_steps(paths: StudyPaths, profile: dict) -> list[Step]:
    """A new site's recalibration, on the two-hospital experiment: ``shortcut.recalibrate.n`` images of the second
    hospital (stratified, by patient) as the site's own labelled images, the rest to judge on; each of the
    shortcut classifiers recalibrated on them (``models_site``: the bundle's ``recalibrate``, with the other
    ``shortcut.recalibrate`` settings) and evaluated on the rest before (``eval_site_before``) and after
    (``eval_site_after``); and the site's prevalence estimated from those same images without their labels
    (``prior_site``: the bundle's ``prior_shift`` over its inference, with the original models and the
    settings of ``shortcut.prior_shift``)."""
    how = profile["shortcut"]
    recalibrate = dict(how["recalibrate"])
    n = recalibrate.pop("n")
    steps = [
        module_step(
            "shortcut_site_list",
            "monai_ext.tools.data_lists",
            [
                "site",
                "--datalist",
                paths.shortcut_list,
                "--split",
                "test",
                "--n",
                n,
                "--seed",
                profile["seed"],
                "--out",
                paths.site_list,
            ],
            outputs=[paths.site_list],
            inputs=[paths.shortcut_list],
            settings={"n": n},
        )
    ]
    data = {
        "dataset_dir": paths.shortcut_data / "covidx",
        "mask_dir": paths.shortcut_masks,
        "datalist": paths.site_list,
        "num_workers": 0,
        "seed": profile["seed"],
    }
    for mode in how["modes"]:
        run = paths.experiment_cls(paths.shortcut, how["backbone"], mode)
        name = f"shortcut_{how['backbone']}_{mode}"
        steps.append(
            bundle_step(
                f"{name}_recalibrate",
                "cls",
                ["train", "recalibrate"],
                {**data, "ckpt_dir": run / "models", "output_dir": run / "models_site"} | recalibrate,
                outputs=[run / "models_site" / CALIBRATION_FILE],
                inputs=[paths.site_list, run / "models" / MODEL_FILE],
                workflow="recalibrate",
                settings=recalibrate,
                work_dirs=[run / "models_site"],
            )
        )
        for folder, models in (("eval_site_before", "models"), ("eval_site_after", "models_site")):
            steps.append(
                bundle_step(
                    f"{name}_{folder.removeprefix('eval_')}",
                    "cls",
                    ["train", "evaluate"],
                    {
                        **data,
                        "ckpt_dir": run / models,
                        "output_dir": run / folder,
                        "eval_split": "test",
                        "n_bootstrap": profile["n_bootstrap"],
                    },
                    outputs=[run / folder / METRICS_FILE],
                    inputs=[paths.site_list, run / models / CALIBRATION_FILE],
                    workflow="evaluating",
                    work_dirs=[run / folder],
                )
            )
        steps.append(
            bundle_step(
                f"{name}_prior_shift",
                "cls",
                ["inference", "prior_shift"],
                {**data, "split": "test", "ckpt_dir": run / "models", "output_dir": run / "prior_site"}
                | {"min_images": MIN_PRIOR_SHIFT_IMAGES, **how.get("prior_shift", {})},
                outputs=[run / "prior_site" / PRIOR_SHIFT_FILE],
                inputs=[paths.site_list, run / "models" / CALIBRATION_FILE],
                work_dirs=[run / "prior_site"],
            )
        )
    return steps
