"""Every command the documents show is run exactly as written, and this file says where.

``RUN_BY`` maps each documented command (tests/documented.py reads them from README.md, docs/ and the
bundles' docs) to what runs it: ``CI`` (``.ci/run`` holds the line as it stands), a test (its file and
name), or ``NOT_HERE`` with the reason this machine cannot run it. A command added to a document
without an entry here fails, and so does an entry whose command no document shows any more, a test
that does not exist, and a ``make`` target of the Makefile's help that no document shows.
"""

from __future__ import annotations

import re
import subprocess

from documented import Command, documented_commands, without_options

from monai_ext.constants import REPO_ROOT

CI = ".ci/run"
INTEGRATION = "tests/integration/test_documented.py"
NOT_HERE = "not run here"

#: documented command (without its comment and optional parts) -> what runs it (see the module's docs)
RUN_BY: dict[str, str | tuple[str, str]] = {
    "make demo": CI,
    "make test": CI,
    "make test-fast": CI,
    "make weights": CI,
    "make verify": CI,
    "make integration": CI,
    "make lock": CI,
    "make reproduce PROFILE=tiny": CI,
    # the default study is 15 minutes on 2 cores: its figures are the README's, its steps are PROFILE=tiny's
    "make reproduce": (
        NOT_HERE,
        "the default study takes 15 minutes on the reference machine, longer on slower ones: CI runs its steps as PROFILE=tiny",
    ),
    'make reproduce QU_EX=/data/COVID-QU-Ex/"Lung Segmentation Data" COVIDX=/data/COVIDx-CXR-3': (
        NOT_HERE,
        "needs both datasets; tests/integration/test_real_study.py runs the real profile on the development sample",
    ),
    "make label": (INTEGRATION, "test_make_label_answers_and_only_its_own_origin_reads"),
    'curl -X POST "http://127.0.0.1:8000/infer/cxr_lung_segmentation?image=RG1_UNCR&output=image" -o mask.png': (
        INTEGRATION,
        "test_make_label_answers_and_only_its_own_origin_reads",
    ),
    "make deploy-demo": (INTEGRATION, "test_make_deploy_demo_answers_on_the_real_radiograph"),
    "make pacs": (INTEGRATION, "test_the_pacs_round_trip_as_documented"),
    "make pacs-load": (INTEGRATION, "test_the_pacs_round_trip_as_documented"),
    "make label STUDIES=http://127.0.0.1:8042/dicom-web": (INTEGRATION, "test_the_pacs_round_trip_as_documented"),
    "make deploy-pacs STUDY=1.3.6.1.4.1.5962.1.2.9.20040826185059.5457": (
        INTEGRATION,
        "test_the_pacs_round_trip_as_documented",
    ),
    "make viewer": (INTEGRATION, "test_the_pacs_round_trip_as_documented"),
    "make bench QUICK=1": (INTEGRATION, "test_make_bench_quick"),
    "make release": (INTEGRATION, "test_a_release_installs_with_the_documented_download"),
    "python -m monai.bundle download --name cxr_lung_segmentation --url "
    "file://$PWD/results/release/cxr_lung_segmentation_v0.4.0.zip --bundle_dir ~/bundles": (
        INTEGRATION,
        "test_a_release_installs_with_the_documented_download",
    ),
    # the segmentation bundle's docs
    "python -m monai.bundle run --config_file bundles/cxr_lung_segmentation/configs/inference.json "
    "--dataset_dir /path/to/images --output_dir /path/to/masks": (
        INTEGRATION,
        "test_the_bundle_docs_commands_run_as_written",
    ),
    "python -m monai_ext.tools.data_lists covid-qu-ex --root ../shared/data/cxr-dev/lung-seg --out "
    "data_lists/cxr_dev_lung_seg.json": (INTEGRATION, "test_the_bundle_docs_commands_run_as_written"),
    "python -m monai.bundle ckpt_export network_def --filepath models/model.ts --ckpt_file models/model.pt "
    "--meta_file configs/metadata.json --config_file configs/inference.json": (
        INTEGRATION,
        "test_the_bundle_docs_commands_run_as_written",
    ),
    "python -m monai.bundle run --config_file bundles/cxr_covid_classification/configs/inference.json "
    "--dataset_dir /path/to/folder --output_dir out/": (INTEGRATION, "test_the_bundle_docs_commands_run_as_written"),
    # what this machine cannot run: the full datasets, two GPUs, half an hour of training per command
    'python -m monai.bundle run training --config_file bundles/cxr_lung_segmentation/configs/train.json --dataset_dir "/data/COVID-QU-Ex/Lung Segmentation Data" --datalist data_lists/qu_ex.json': (
        NOT_HERE,
        "needs the COVID-QU-Ex dataset; the same command on the synthetic data runs in make demo",
    ),
    "python -m monai.bundle run training --config_file bundles/cxr_covid_classification/configs/train.json --dataset_dir /data/COVIDx --mask_dir results/masks --datalist data_lists/covidx.json --backbone resnet50 --input_mode lung --image_size 224 --pretrained True": (
        NOT_HERE,
        "needs COVIDx CXR-3 and ImageNet weights; the same command on the synthetic data runs in make demo",
    ),
    "torchrun --nproc_per_node 2 -m monai.bundle run training --config_file \"['bundles/cxr_lung_segmentation/configs/train.json','bundles/cxr_lung_segmentation/configs/multi_gpu_train.json']\"": (
        NOT_HERE,
        "two GPUs; tests/integration/test_multi_gpu.py runs the same configs on two CPU ranks (gloo)",
    ),
    "torchrun --nproc_per_node 2 -m monai.bundle run training --config_file \"['bundles/cxr_covid_classification/configs/train.json','bundles/cxr_covid_classification/configs/multi_gpu_train.json']\"": (
        NOT_HERE,
        "two GPUs; tests/integration/test_multi_gpu.py runs the same configs on two CPU ranks (gloo)",
    ),
    "python -m monai.bundle run evaluating --config_file \"['bundles/cxr_lung_segmentation/configs/train.json','bundles/cxr_lung_segmentation/configs/evaluate.json']\" --eval_split test": (
        NOT_HERE,
        "needs the data ids of a training on COVID-QU-Ex; make demo runs the same evaluation on the synthetic data",
    ),
    "python -m monai.bundle run evaluating --config_file \"['bundles/cxr_covid_classification/configs/train.json','bundles/cxr_covid_classification/configs/evaluate.json']\" --eval_split test": (
        NOT_HERE,
        "needs the data ids of a training on COVIDx; make demo runs the same evaluation on the synthetic data",
    ),
    "python -m monai.bundle run training --config_file bundles/cxr_lung_segmentation/configs/train.json --dataset_dir ../shared/data/cxr-dev/lung-seg --datalist data_lists/cxr_dev_lung_seg.json --image_size 256": (
        NOT_HERE,
        "30 minutes here (45 epochs at 256 px); the committed weights' model card records their run of it",
    ),
    "python -m monai_ext.tools.data_lists covidx --root ../shared/data/cxr-dev/covidx --val-fraction 0.15 --seed 0 "
    "--out dev_covidx.json": ("tests/test_dev_sample_commands.py", "test_the_dev_sample_training_runs_as_documented"),
    "python -m monai.bundle run training --config_file bundles/cxr_covid_classification/configs/train.json "
    "--dataset_dir ../shared/data/cxr-dev/covidx --datalist dev_covidx.json --mask_dir None --input_mode cxr "
    "--backbone resnet50": ("tests/test_dev_sample_commands.py", "test_the_dev_sample_training_runs_as_documented"),
    "python -m monai_ext.tools.data_lists site --datalist SITE.json --split test --n 60 --out LOCAL.json": (
        NOT_HERE,
        "a site's own data list; tests/test_gate_bundle.py runs the site split on the synthetic hospitals",
    ),
    "python -m monai.bundle run recalibrate --config_file \"['configs/train.json','configs/recalibrate.json']\" --dataset_dir IMAGES --mask_dir MASKS --datalist LOCAL.json --ckpt_dir MODELS --output_dir NEW_MODELS": (
        NOT_HERE,
        "a site's own images; tests/test_gate_bundle.py runs the same configs on the synthetic hospitals",
    ),
    "python -m monai.bundle run --config_file \"['configs/inference.json','configs/prior_shift.json']\" --dataset_dir SITE_IMAGES --ckpt_dir MODELS --output_dir OUT": (
        NOT_HERE,
        "a site's own images; tests/test_gate_bundle.py runs the same configs on the synthetic hospitals",
    ),
    "python -m monai_ext.tools.fit_gate --datalist DATALIST --dataset-dir DIR --cls-models MODELS --seg-bundle SEG_BUNDLE --work WORK": (
        "tests/test_gate_bundle.py",
        "test_the_gates_thresholds_are_fitted_as_documented",
    ),
    "python -m monai_ext.tools.gate_targets --cxr ../shared/data/cxr-dev/covidx/test --cls-models MODELS --seg-bundle SEG_BUNDLE --out results/gate": (
        NOT_HERE,
        "both bundles trained on the development sample first (about 40 minutes here)",
    ),
}


def _key(command: Command) -> str:
    return without_options(command.command)


def test_every_documented_command_says_what_runs_it():
    documented = {_key(c): c for c in documented_commands()}
    unclaimed = [f"{c.document}:{c.line}: {key}" for key, c in documented.items() if key not in RUN_BY]
    assert not unclaimed, "documented commands no test runs (add each to RUN_BY):\n" + "\n".join(unclaimed)
    stale = [key for key in RUN_BY if key not in documented]
    assert not stale, f"RUN_BY names commands no document shows: {stale}"


def _ci_lines() -> list[str]:
    """The lines of .ci/run, each without the ``step`` that times it."""
    return [line.removeprefix("step ") for line in (REPO_ROOT / CI).read_text().splitlines()]


def test_what_runs_a_command_exists():
    ci = _ci_lines()
    problems = []
    for key, by in RUN_BY.items():
        if by == CI:
            if key not in ci:
                problems.append(f"{CI} has no line {key!r}")
        elif by[0] != NOT_HERE:
            path, name = by
            if not re.search(rf"^def {re.escape(name)}\(", (REPO_ROOT / path).read_text(), re.MULTILINE):
                problems.append(f"{path} has no test {name} (for {key!r})")
        elif not by[1]:
            problems.append(f"{key!r}: not run here, with no reason")
    assert not problems, "\n".join(problems)


def test_every_make_target_of_the_help_is_documented_or_run_by_ci():
    text = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    targets = sorted(set(re.findall(r"^make ([a-z-]+)", text, re.MULTILINE)))
    documented = {c.command.split()[1] for c in documented_commands() if c.command.startswith("make ")}
    ci = {line.split()[1] for line in _ci_lines() if line.startswith("make ")}
    missing = [t for t in targets if t not in documented and t not in ci]
    assert targets and not missing, f"make targets the help lists and no document shows: {missing}"
