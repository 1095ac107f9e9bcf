"""The study as a list of steps, each a documented command of the bundles or of monai_ext."""

from __future__ import annotations

import copy
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from monai_ext.bundle import MODEL_FILE, bundle_command, override_args
from monai_ext.constants import CLS_BUNDLE, INPUT_MODES, REPO_ROOT, SEG_BUNDLE
from monai_ext.handlers.prior_shift import MIN_PRIOR_SHIFT_IMAGES, PRIOR_SHIFT_FILE
from monai_ext.networks.backbones import BACKBONES
from monai_ext.tools.data_lists.covidx import source_classes
from monai_ext.tools.gate_targets import SETS_FILE as GATE_SETS_FILE
from monai_ext.tools.reproduce.steps import Step
from monai_ext.tools.synthetic.dataset import DEFAULTS

__all__ = [
    "PROFILES",
    "StudyPaths",
    "cls_settings",
    "held_out_sources",
    "leave_one_source_out_steps",
    "run_modes",
    "shortcut_steps",
    "split_run_name",
    "study_steps",
    "test_sources",
    "with_settings",
]

#: the shortcut experiment's data list, and the hospital it holds out whole as its test split
SHORTCUT_LIST = "hospitals.json"
SHORTCUT_TEST_SOURCE = "hospital-b"
#: the two-hospital experiment of the default and real profiles
SHORTCUT_EXPERIMENT = {
    "n": 480,
    "size": 128,
    "backbone": "resnet50",
    "modes": ["cxr", "lung"],
    "cls": {"max_epochs": 9},
    "recalibrate": {"n": 60},
}
#: the bundles' resume checkpoints (``AtomicCheckpointSaver`` in train.json), deleted once training is complete
RESUME_FILES = ["checkpoint_epoch=*.pt"]
SEG_CONFIGS = REPO_ROOT / "bundles" / SEG_BUNDLE / "configs"
CLS_CONFIGS = REPO_ROOT / "bundles" / CLS_BUNDLE / "configs"

#: settings per profile: "default" runs on the embedded synthetic data within 15 minutes on a 2-core CPU,
#: "real" is close to the published study, "tiny" is for tests. A classifier's settings start from the
#: bundle's recipe for its backbone (``recipes`` in train.json: learning rate, amp), then ``cls``, then
#: its ``cls_per_backbone`` entry: on a CPU budget VGG19_bn and EfficientNet-B7 cost 5-6 times ResNet50
#: per epoch, so they get fewer epochs. ``shortcut``: the two-hospital experiment (:func:`shortcut_steps`):
#: ``n`` images of ``size`` pixels, the backbone and input modes trained on them, ``cls``: changes to the
#: backbone's classification settings for it. ``modes_per_backbone``: the input modes the main table
#: trains for a backbone (default: all). ``leave_one_source_out``:
#: each source with both classes or ``min_images`` images held out in turn (:func:`leave_one_source_out_steps`).
PROFILES = {
    "default": {
        "synthetic": DEFAULTS,
        "seg": {"image_size": 128, "max_epochs": 12, "batch_size": 8, "learning_rate": 0.002, "pretrained": False},
        "cls": {"image_size": 64, "max_epochs": 15, "batch_size": 16, "patience": 5, "pretrained": False},
        "cls_per_backbone": {
            "resnet50": {"learning_rate": 0.001, "max_epochs": 10},
            "vgg19_bn": {"max_epochs": 3},
            "efficientnet_b7": {"max_epochs": 4},
        },
        # within 15 minutes on 2 cores: ResNet50 on all three inputs (the shortcut probe), the two dearer
        # backbones on the segmented lung only (the study's headline); the full grid with --set (README)
        "modes_per_backbone": {"vgg19_bn": ["lung"], "efficientnet_b7": ["lung"]},
        "shortcut": {**SHORTCUT_EXPERIMENT, "n": 240},  # 120 per hospital: 60 to recalibrate on, 60 to judge
        "gate": {"per_set": 6},
        "val_fraction": 0.15,
        "n_bootstrap": 1000,
        "test_sources": None,
        "seed": 0,
    },
    "real": {  # a dataset not given falls back to the synthetic default
        "synthetic": DEFAULTS,
        "seg": {"image_size": 256, "max_epochs": 40, "batch_size": 8, "learning_rate": 0.001, "pretrained": True},
        "cls": {
            "image_size": 256,
            "max_epochs": 30,
            "batch_size": 16,
            "patience": 5,
            "pretrained": True,
        },
        "shortcut": SHORTCUT_EXPERIMENT,
        "gate": {"per_set": 100},
        "leave_one_source_out": {"min_images": 200, "modes": ["cxr", "lung"]},
        "val_fraction": 0.1,
        "n_bootstrap": 1000,
        "test_sources": None,
        "seed": 0,
    },
    "tiny": {
        "synthetic": {"n_seg": 15, "n_cls": 40, "size": 64, "seed": 1},
        "seg": {"image_size": 64, "max_epochs": 1, "batch_size": 4, "learning_rate": 0.001, "pretrained": False},
        "cls": {
            "image_size": 32,
            "max_epochs": 1,
            "batch_size": 8,
            "patience": 2,
            "learning_rate": 0.001,
            "pretrained": False,
        },
        "shortcut": {
            "n": 40,
            "size": 64,
            "backbone": "resnet50",
            "modes": ["cxr", "lung"],
            "recalibrate": {"n": 10, "min_images": 8, "min_per_class": 2},
            # a one-epoch segmenter's masks are not plausible: the gate would leave no image to estimate from
            "prior_shift": {"gate": False, "min_images": 5},
        },
        "gate": {"per_set": 2},
        "leave_one_source_out": {"min_images": 1000, "modes": ["cxr"]},
        "val_fraction": 0.2,
        "n_bootstrap": 100,
        "test_sources": None,
        "seed": 0,
    },
}


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


def with_settings(profile: dict, assignments: list[str]) -> dict:
    """A copy of ``profile`` with each ``SECTION.KEY=VALUE`` applied (``seg.max_epochs=1``,
    ``cls_per_backbone.vgg19_bn.max_epochs=3``, ``seed=1``); values are read as JSON, else kept as text.
    An unknown section is refused; a new key inside a known section is allowed (a bundle setting)."""
    out = copy.deepcopy(profile)
    for assignment in assignments:
        dotted, sep, text = assignment.partition("=")
        if not sep or not dotted:
            raise ValueError(f"--set {assignment!r}: expected SECTION.KEY=VALUE")
        *sections, key = dotted.split(".")
        target = out
        for section in sections:
            if section not in target and (
                section in ("cls_per_backbone", "modes_per_backbone") or section in BACKBONES
            ):
                target[section] = {}
            if not hasattr(target.get(section), "items"):  # not a section of settings
                raise ValueError(f"--set {assignment!r}: no section {section!r} in the profile")
            target = target[section]
        if not sections and key not in out:
            raise ValueError(f"--set {assignment!r}: no setting {key!r} in the profile")
        try:
            target[key] = json.loads(text)
        except json.JSONDecodeError:
            target[key] = text
    return out


def cls_settings(profile: dict, backbone: str) -> dict:
    """The classification settings of ``backbone``: the bundle's recipe for it (``recipes`` in train.json),
    then the profile's ``cls``, then its ``cls_per_backbone`` entry."""
    recipe = json.loads((CLS_CONFIGS / "train.json").read_text())["recipes"][backbone]
    return {**recipe, **profile["cls"], **profile.get("cls_per_backbone", {}).get(backbone, {})}


def run_modes(profile: dict, backbone: str, modes=INPUT_MODES) -> list[str]:
    """The input modes of ``modes`` the profile trains ``backbone`` on in the main table: its
    ``modes_per_backbone`` entry when it has one (a list, or comma-separated text), else all of them."""
    chosen = profile.get("modes_per_backbone", {}).get(backbone, modes)
    chosen = [m for m in chosen.split(",") if m] if isinstance(chosen, str) else list(chosen)
    unknown = sorted(set(chosen) - set(INPUT_MODES))
    if unknown:
        raise ValueError(f"modes_per_backbone.{backbone}: {unknown} not among the input modes {list(INPUT_MODES)}")
    return [m for m in modes if m in chosen]


def test_sources(profile: dict) -> list[str]:
    """The sources the profile holds out of the main classification list (``test_sources``: a list, or
    comma-separated text as ``--set test_sources=A,B`` gives it); none by default."""
    value = profile.get("test_sources") or []
    return [s for s in value.split(",") if s] if isinstance(value, str) else list(value)


def _label_lists(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.txt"))


def _segment_folder(name: str, paths: StudyPaths, seg: dict, dataset: Path, out: Path, inputs: list[Path]) -> Step:
    """Lung masks of every image under ``dataset`` with the study's segmentation model, into ``out``."""
    model = paths.seg / "models" / MODEL_FILE
    return Step(
        name=name,
        command=bundle_command(
            "run",
            "--config_file",
            SEG_CONFIGS / "inference.json",
            "--dataset_dir",
            dataset,
            "--ckpt_dir",
            paths.seg / "models",
            "--image_size",
            seg["image_size"],
            "--num_workers",
            "0",
            "--output_dir",
            out,
        ),
        outputs=[out],
        inputs=[model, *inputs, *sorted(SEG_CONFIGS.glob("*.json"))],
        work_dirs=[out],
    )


def _covidx_list(name: str, profile: dict, root: Path, masks: Path, out: Path, inputs: list[Path], *extra: str) -> Step:
    """The binary COVIDx data list of ``root`` with the masks under ``masks`` (``extra``: more builder options)."""
    return Step(
        name=name,
        command=[
            sys.executable,
            "-m",
            "monai_ext.tools.data_lists",
            "covidx",
            "--root",
            str(root),
            "--masks",
            str(masks),
            "--classes",
            "binary",
            "--val-fraction",
            str(profile["val_fraction"]),
            "--seed",
            str(profile["seed"]),
            "--out",
            str(out),
            *extra,
        ],
        outputs=[out],
        inputs=inputs,
    )


def _classifier(
    name: str,
    profile: dict,
    cls: dict,
    backbone: str,
    mode: str,
    run: Path,
    dataset: Path,
    masks: Path,
    datalist: Path,
    in_source: bool = False,
    ood: tuple[Path, Path] | None = None,
) -> list[Step]:
    """Train one classifier, then evaluate it on the data list's test split (``run/eval``) and, with
    ``in_source`` (a list built with ``--test-sources``), on ``test_in_source`` too (``run/eval_in_source``:
    the held-out patients of the training sources); with ``ood`` (the folder of :func:`gate_steps`' images
    and their masks), run its inference there (``run/gate``: what the input gate answers on)."""
    common = [
        "--dataset_dir",
        str(dataset),
        "--mask_dir",
        str(masks),
        "--datalist",
        str(datalist),
        "--backbone",
        backbone,
        "--input_mode",
        mode,
        "--ckpt_dir",
        str(run / "models"),
        "--image_size",
        str(cls["image_size"]),
        "--num_workers",
        "0",
        "--seed",
        str(profile["seed"]),
    ]
    configs = sorted(CLS_CONFIGS.glob("*.json"))
    model = run / "models" / MODEL_FILE
    steps = [
        Step(
            name=f"{name}_train",
            command=bundle_command(
                "run",
                "training",
                "--config_file",
                CLS_CONFIGS / "train.json",
                *common,
                "--output_dir",
                run / "train",
                *override_args({k: v for k, v in cls.items() if k != "image_size"}),
            ),
            outputs=[model],
            inputs=[datalist, *configs],
            settings=cls,
            work_dirs=[run / "train", run / "models"],
            resume_files=RESUME_FILES,
        )
    ]
    if ood is not None:  # the input gate on what is not a chest radiograph, with the masks segmented once
        sets, masks_of_sets = ood
        steps.append(
            Step(
                name=f"{name}_gate",
                command=bundle_command(
                    "run",
                    "--config_file",
                    CLS_CONFIGS / "inference.json",
                    "--dataset_dir",
                    sets,
                    "--mask_dir",
                    masks_of_sets,
                    "--ckpt_dir",
                    run / "models",
                    "--num_workers",
                    "0",
                    "--output_dir",
                    run / "gate",
                ),
                outputs=[run / "gate" / "predictions.csv"],
                inputs=[model, masks_of_sets / "manifest.csv", *configs],
                work_dirs=[run / "gate"],
            )
        )
    splits = {"eval": "test", **({"eval_in_source": "test_in_source"} if in_source else {})}
    for folder, split in splits.items():
        steps.append(
            Step(
                name=f"{name}_{folder.replace('eval', 'evaluate')}",
                command=bundle_command(
                    "run",
                    "evaluating",
                    "--config_file",
                    f"['{CLS_CONFIGS / 'train.json'}','{CLS_CONFIGS / 'evaluate.json'}']",
                    *common,
                    "--output_dir",
                    run / folder,
                    "--eval_split",
                    split,
                    "--n_bootstrap",
                    profile["n_bootstrap"],
                    "--saliency",
                    "True",
                ),
                outputs=[run / folder / "metrics.json"],
                inputs=[datalist, model, *configs],
                work_dirs=[run / folder],
            )
        )
    return steps


def _classifiers(
    prefix: str,
    profile: dict,
    backbones,
    modes,
    run_of: Callable[[str, str], Path],
    dataset: Path,
    masks: Path,
    datalist: Path,
    in_source: bool = False,
    overrides: dict | None = None,
    ood: tuple[Path, Path] | None = None,
    per_backbone: bool = False,
) -> list[Step]:
    """:func:`_classifier` steps of every backbone x mode (with ``per_backbone``, the modes of
    :func:`run_modes`), named ``<prefix><backbone>_<mode>``, each in ``run_of(backbone, mode)``, with
    :func:`cls_settings` changed by ``overrides``."""
    steps = []
    for backbone in backbones:
        cls = {**cls_settings(profile, backbone), **(overrides or {})}
        for mode in run_modes(profile, backbone, modes) if per_backbone else modes:
            run = run_of(backbone, mode)
            name = f"{prefix}{backbone}_{mode}"
            steps += _classifier(name, profile, cls, backbone, mode, run, dataset, masks, datalist, in_source, ood)
    return steps


def study_steps(paths: StudyPaths, profile: dict, backbones=BACKBONES, modes=INPUT_MODES) -> list[Step]:
    """Every step of the study in order: lists, segmentation (train, evaluate, test masks), masks for
    COVIDx, the classification data list, then train and evaluate each backbone x input mode (with the
    profile's ``test_sources``, a list of sources, the list holds them out whole as its test split and
    each classifier is also evaluated on the other sources' test images); then,
    when the profile has ``shortcut``, the two-hospital experiment (:func:`shortcut_steps`)."""
    seg, seed, held = profile["seg"], profile["seed"], test_sources(profile)
    seg_configs = sorted(SEG_CONFIGS.glob("*.json"))
    seg_list = paths.lists / "qu_ex.json"
    cls_list = paths.lists / "covidx.json"
    seg_data = ["--dataset_dir", str(paths.qu_ex), "--datalist", str(seg_list), "--num_workers", "0"]
    seg_common = [*seg_data, "--ckpt_dir", str(paths.seg / "models"), "--image_size", str(seg["image_size"])]
    model = paths.seg / "models" / MODEL_FILE
    steps = [
        Step(
            name="lists_qu_ex",
            command=[
                sys.executable,
                "-m",
                "monai_ext.tools.data_lists",
                "covid-qu-ex",
                "--root",
                str(paths.qu_ex),
                "--out",
                str(seg_list),
                "--test-fraction",  # used only where the dataset has no Test folder
                str(profile["val_fraction"]),
                "--seed",
                str(seed),
            ],
            outputs=[seg_list],
        ),
        Step(
            name="seg_train",
            command=bundle_command(
                "run",
                "training",
                "--config_file",
                SEG_CONFIGS / "train.json",
                *seg_common,
                "--output_dir",
                paths.seg / "train",
                "--seed",
                seed,
                *override_args({k: v for k, v in seg.items() if k != "image_size"}),
            ),
            outputs=[model],
            inputs=[seg_list, *seg_configs],
            settings=seg,
            work_dirs=[paths.seg / "train", paths.seg / "models"],
            resume_files=RESUME_FILES,
        ),
        Step(
            name="seg_evaluate",
            command=bundle_command(
                "run",
                "evaluating",
                "--config_file",
                f"['{SEG_CONFIGS / 'train.json'}','{SEG_CONFIGS / 'evaluate.json'}']",
                *seg_common,
                "--output_dir",
                paths.seg / "eval",
                "--eval_split",
                "test",
            ),
            outputs=[paths.seg / "eval" / "metrics_summary.json"],
            inputs=[seg_list, model, *seg_configs],
            work_dirs=[paths.seg / "eval"],
        ),
        Step(
            name="seg_test_masks",
            command=bundle_command(
                "run",
                "--config_file",
                SEG_CONFIGS / "inference.json",
                *seg_common,
                "--split",
                "test",
                "--output_dir",
                paths.seg / "test_masks",
            ),
            outputs=[paths.seg / "test_masks"],
            inputs=[seg_list, model, *seg_configs],
            work_dirs=[paths.seg / "test_masks"],
        ),
        _segment_folder("covidx_masks", paths, seg, paths.covidx, paths.masks, _label_lists(paths.covidx)),
        _covidx_list(
            "lists_covidx",
            profile,
            paths.covidx,
            paths.masks,
            cls_list,
            [model, *_label_lists(paths.covidx)],
            *(["--test-sources", ",".join(held)] if held else []),
        ),
    ]
    ood = None
    if profile.get("gate"):
        steps += gate_steps(paths, profile)
        ood = (paths.gate_sets, paths.gate_masks)
    steps += _classifiers(
        "cls_",
        profile,
        backbones,
        modes,
        paths.cls,
        paths.covidx,
        paths.masks,
        cls_list,
        bool(held),
        ood=ood,
        per_backbone=True,
    )
    if profile.get("shortcut"):
        steps += shortcut_steps(paths, profile)
    if profile.get("leave_one_source_out"):
        steps += leave_one_source_out_steps(paths, profile, backbones)
    return steps


def gate_steps(paths: StudyPaths, profile: dict) -> list[Step]:
    """The images the input gate must not answer on (other modalities and body parts, natural images, and
    the first ``gate.per_set`` test radiographs inverted, turned and upside down:
    :func:`monai_ext.tools.gate_targets.write_sets`), then their lung masks (with the segmenter's test-time
    disagreement, in the manifest) by the study's model, once for every classifier."""
    test = paths.covidx / "test"
    per_set = profile["gate"].get("per_set")
    return [
        Step(
            name="gate_sets",
            command=[
                sys.executable,
                "-m",
                "monai_ext.tools.gate_targets",
                "--sets-only",
                "--cxr",
                str(test),
                "--out",
                str(paths.gate_sets),
                *(["--per-set", str(per_set)] if per_set else []),
            ],
            outputs=[paths.gate_sets / GATE_SETS_FILE],
            settings={"per_set": per_set},
            work_dirs=[paths.gate_sets],
        ),
        _segment_folder(
            "gate_masks", paths, profile["seg"], paths.gate_sets, paths.gate_masks, [paths.gate_sets / GATE_SETS_FILE]
        ),
    ]


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
    (``--test-sources S``), then each backbone on the profile's ``leave_one_source_out`` modes, trained
    without S and evaluated on S and on the other sources' published test images."""
    how = profile["leave_one_source_out"]
    model = paths.seg / "models" / MODEL_FILE
    steps = []
    for source in held_out_sources(paths.covidx, how["min_images"]):
        folder = paths.loso(source)
        datalist = folder / "covidx.json"
        steps.append(
            _covidx_list(
                f"loso_{source}_list",
                profile,
                paths.covidx,
                paths.masks,
                datalist,
                [model, *_label_lists(paths.covidx)],
                "--test-sources",
                source,
            )
        )
        runs = partial(paths.experiment_cls, folder)
        steps += _classifiers(
            f"loso_{source}_", profile, backbones, how["modes"], runs, paths.covidx, paths.masks, datalist, True
        )
    return steps


def shortcut_steps(paths: StudyPaths, profile: dict) -> list[Step]:
    """The two-hospital shortcut experiment (:mod:`monai_ext.tools.synthetic.hospitals`): write the hospitals,
    segment their lungs with the study's model, hold the second hospital out whole
    (``--test-sources hospital-b``), then train the profile's ``shortcut`` backbone on each of its modes
    and evaluate it on both hospitals."""
    how, seg = profile["shortcut"], profile["seg"]
    data, masks, datalist = paths.shortcut / "data", paths.shortcut / "masks", paths.shortcut / SHORTCUT_LIST
    model = paths.seg / "models" / MODEL_FILE
    synthetic = {"n_cls": how["n"], "size": how["size"], "seed": profile["seed"]}
    steps = [
        Step(
            name="shortcut_data",
            command=[
                sys.executable,
                "-m",
                "monai_ext.tools.synthetic",
                "--two-hospitals",
                "--out",
                str(data),
                *[f"--{k.replace('_', '-')}={v}" for k, v in synthetic.items()],
            ],
            outputs=[data / "hospitals.json"],
            settings=synthetic,
            work_dirs=[data],
        ),
        _segment_folder("shortcut_masks", paths, seg, data / "covidx", masks, [data / "hospitals.json"]),
        _covidx_list(
            "shortcut_list",
            profile,
            data / "covidx",
            masks,
            datalist,
            [model, data / "hospitals.json"],
            "--test-sources",
            SHORTCUT_TEST_SOURCE,
        ),
    ]
    runs = partial(paths.experiment_cls, paths.shortcut)
    steps += _classifiers(
        "shortcut_",
        profile,
        [how["backbone"]],
        how["modes"],
        runs,
        data / "covidx",
        masks,
        datalist,
        True,
        how.get("cls"),
    )
    if how.get("recalibrate"):
        steps += recalibration_steps(paths, profile, data / "covidx", masks, datalist)
    return steps


def recalibration_steps(paths: StudyPaths, profile: dict, dataset: Path, masks: Path, datalist: Path) -> list[Step]:
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
    configs = sorted(CLS_CONFIGS.glob("*.json"))
    steps = [
        Step(
            name="shortcut_site_list",
            command=[
                sys.executable,
                "-m",
                "monai_ext.tools.data_lists",
                "site",
                "--datalist",
                str(datalist),
                "--split",
                "test",
                "--n",
                str(n),
                "--seed",
                str(profile["seed"]),
                "--out",
                str(paths.site_list),
            ],
            outputs=[paths.site_list],
            inputs=[datalist],
            settings={"n": n},
        )
    ]
    for mode in how["modes"]:
        run = paths.experiment_cls(paths.shortcut, how["backbone"], mode)
        name = f"shortcut_{how['backbone']}_{mode}"
        data_args = ["--dataset_dir", str(dataset), "--mask_dir", str(masks), "--datalist", str(paths.site_list),
                     "--num_workers", "0", "--seed", str(profile["seed"])]  # fmt: skip
        steps.append(
            Step(
                name=f"{name}_recalibrate",
                command=bundle_command(
                    "run",
                    "recalibrate",
                    "--config_file",
                    f"['{CLS_CONFIGS / 'train.json'}','{CLS_CONFIGS / 'recalibrate.json'}']",
                    *data_args,
                    "--ckpt_dir",
                    run / "models",
                    "--output_dir",
                    run / "models_site",
                    *override_args(recalibrate),
                ),
                outputs=[run / "models_site" / "calibration.json"],
                inputs=[paths.site_list, run / "models" / MODEL_FILE, *configs],
                settings=recalibrate,
                work_dirs=[run / "models_site"],
            )
        )
        for folder, models in (("eval_site_before", "models"), ("eval_site_after", "models_site")):
            steps.append(
                Step(
                    name=f"{name}_{folder.removeprefix('eval_')}",
                    command=bundle_command(
                        "run",
                        "evaluating",
                        "--config_file",
                        f"['{CLS_CONFIGS / 'train.json'}','{CLS_CONFIGS / 'evaluate.json'}']",
                        *data_args,
                        "--ckpt_dir",
                        run / models,
                        "--output_dir",
                        run / folder,
                        "--eval_split",
                        "test",
                        "--n_bootstrap",
                        profile["n_bootstrap"],
                    ),
                    outputs=[run / folder / "metrics.json"],
                    inputs=[paths.site_list, run / models / "calibration.json", *configs],
                    work_dirs=[run / folder],
                )
            )
        steps.append(
            Step(
                name=f"{name}_prior_shift",
                command=bundle_command(
                    "run",
                    "--config_file",
                    f"['{CLS_CONFIGS / 'inference.json'}','{CLS_CONFIGS / 'prior_shift.json'}']",
                    *data_args,
                    "--split",
                    "test",
                    "--ckpt_dir",
                    run / "models",
                    "--output_dir",
                    run / "prior_site",
                    *override_args({"min_images": MIN_PRIOR_SHIFT_IMAGES, **how.get("prior_shift", {})}),
                ),
                outputs=[run / "prior_site" / PRIOR_SHIFT_FILE],
                inputs=[paths.site_list, run / "models" / "calibration.json", *configs],
                work_dirs=[run / "prior_site"],
            )
        )
    return steps
