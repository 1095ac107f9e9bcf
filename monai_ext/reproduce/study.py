"""The study as a list of steps, each a documented command of the bundles or of monai_ext."""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from monai_ext.bundle import bundle_command, override_args
from monai_ext.constants import BACKBONES, CLS_BUNDLE, INPUT_MODES, REPO_ROOT, SEG_BUNDLE
from monai_ext.reproduce.steps import Step
from monai_ext.synthetic.dataset import DEFAULTS

__all__ = ["PROFILES", "StudyPaths", "cls_settings", "study_steps", "with_settings"]

#: the bundles' resume checkpoints (``AtomicCheckpointSaver`` in train.json), deleted once training is complete
RESUME_FILES = ["checkpoint_epoch=*.pt"]
SEG_CONFIGS = REPO_ROOT / "bundles" / SEG_BUNDLE / "configs"
CLS_CONFIGS = REPO_ROOT / "bundles" / CLS_BUNDLE / "configs"

#: settings per profile: "default" runs on the embedded synthetic data within 15 minutes on a 2-core CPU,
#: "real" is close to the published study, "tiny" is for tests. A classifier's settings start from the
#: bundle's recipe for its backbone (``recipes`` in train.json: learning rate, amp), then ``cls``, then
#: its ``cls_per_backbone`` entry: on a CPU budget VGG19_bn and EfficientNet-B7 cost 5-6 times ResNet50
#: per epoch, so they get fewer epochs.
PROFILES = {
    "default": {
        "synthetic": DEFAULTS,
        "seg": {"image_size": 128, "max_epochs": 30, "batch_size": 8, "learning_rate": 0.002, "pretrained": False},
        "cls": {"image_size": 64, "max_epochs": 15, "batch_size": 16, "patience": 5, "pretrained": False},
        "cls_per_backbone": {
            "resnet50": {"learning_rate": 0.001},
            "vgg19_bn": {"max_epochs": 6},
            "efficientnet_b7": {"max_epochs": 2},
        },
        "val_fraction": 0.15,
        "n_bootstrap": 1000,
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
        "val_fraction": 0.1,
        "n_bootstrap": 1000,
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
        "val_fraction": 0.2,
        "n_bootstrap": 100,
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
        return self.run_dir / "cls" / f"{backbone}_{mode}"


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
            if section not in target and (section == "cls_per_backbone" or section in BACKBONES):
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


def _label_lists(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.txt"))


def study_steps(paths: StudyPaths, profile: dict, backbones=BACKBONES, modes=INPUT_MODES) -> list[Step]:
    """Every step of the study in order: lists, segmentation (train, evaluate, test masks), masks for
    COVIDx, the classification data list, then train and evaluate each backbone x input mode."""
    seg, seed = profile["seg"], profile["seed"]
    seg_configs, cls_configs = sorted(SEG_CONFIGS.glob("*.json")), sorted(CLS_CONFIGS.glob("*.json"))
    seg_list = paths.lists / "qu_ex.json"
    cls_list = paths.lists / "covidx.json"
    seg_data = ["--dataset_dir", str(paths.qu_ex), "--datalist", str(seg_list), "--num_workers", "0"]
    seg_common = [*seg_data, "--ckpt_dir", str(paths.seg / "models"), "--image_size", str(seg["image_size"])]
    model = paths.seg / "models" / "model.pt"
    steps = [
        Step(
            name="lists_qu_ex",
            command=[
                sys.executable,
                "-m",
                "monai_ext.data_lists",
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
        Step(
            name="covidx_masks",
            command=bundle_command(
                "run",
                "--config_file",
                SEG_CONFIGS / "inference.json",
                "--dataset_dir",
                paths.covidx,
                "--ckpt_dir",
                paths.seg / "models",
                "--image_size",
                seg["image_size"],
                "--num_workers",
                "0",
                "--output_dir",
                paths.masks,
            ),
            outputs=[paths.masks],
            inputs=[model, *_label_lists(paths.covidx), *seg_configs],
            work_dirs=[paths.masks],
        ),
        Step(
            name="lists_covidx",
            command=[
                sys.executable,
                "-m",
                "monai_ext.data_lists",
                "covidx",
                "--root",
                str(paths.covidx),
                "--masks",
                str(paths.masks),
                "--classes",
                "binary",
                "--val-fraction",
                str(profile["val_fraction"]),
                "--seed",
                str(seed),
                "--out",
                str(cls_list),
            ],
            outputs=[cls_list],
            inputs=[model, *_label_lists(paths.covidx)],
        ),
    ]
    for backbone in backbones:
        cls = cls_settings(profile, backbone)
        for mode in modes:
            run = paths.cls(backbone, mode)
            common = [
                "--dataset_dir",
                str(paths.covidx),
                "--mask_dir",
                str(paths.masks),
                "--datalist",
                str(cls_list),
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
                str(seed),
            ]
            cls_model = run / "models" / "model.pt"
            steps.append(
                Step(
                    name=f"cls_{backbone}_{mode}_train",
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
                    outputs=[cls_model],
                    inputs=[cls_list, *cls_configs],
                    settings=cls,
                    work_dirs=[run / "train", run / "models"],
                    resume_files=RESUME_FILES,
                )
            )
            steps.append(
                Step(
                    name=f"cls_{backbone}_{mode}_evaluate",
                    command=bundle_command(
                        "run",
                        "evaluating",
                        "--config_file",
                        f"['{CLS_CONFIGS / 'train.json'}','{CLS_CONFIGS / 'evaluate.json'}']",
                        *common,
                        "--output_dir",
                        run / "eval",
                        "--eval_split",
                        "test",
                        "--n_bootstrap",
                        profile["n_bootstrap"],
                        "--saliency",
                        "True",
                    ),
                    outputs=[run / "eval" / "metrics.json"],
                    inputs=[cls_list, cls_model, *cls_configs],
                    work_dirs=[run / "eval"],
                )
            )
    return steps
