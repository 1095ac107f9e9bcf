"""The study's steps as commands: a workflow of one of the bundles (:func:`bundle_step`) or a ``python -m``
command of the project (:func:`module_step`), each a :class:`~monai_ext.tools.reproduce.steps.Step`."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_ext.bundle import bundle_command, override_args
from monai_ext.constants import CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.tools.reproduce.steps import Step

__all__ = ["BUNDLES", "RESUME_FILES", "bundle_config", "bundle_step", "module_step"]

#: the study's short names of the two bundles
BUNDLES = {"seg": SEG_BUNDLE, "cls": CLS_BUNDLE}
#: the bundles' resume checkpoints (``AtomicCheckpointSaver`` in train.json), deleted once training is complete
RESUME_FILES = ["checkpoint_epoch=*.pt"]


def _configs_dir(kind: str) -> Path:
    return REPO_ROOT / "bundles" / BUNDLES[kind] / "configs"


def bundle_config(kind: str, name: str) -> Path:
    """The config ``name`` (``train``, ``evaluate``, ...) of bundle ``kind`` (``seg`` or ``cls``)."""
    return _configs_dir(kind) / f"{name}.json"


def bundle_step(
    name: str,
    kind: str,
    configs: Sequence[str],
    args: Mapping[str, Any],
    outputs: Iterable[Path],
    inputs: Iterable[Path] = (),
    workflow: str | None = None,
    settings: Mapping[str, Any] | None = None,
    work_dirs: Iterable[Path] = (),
    resume: bool = False,
) -> Step:
    """``python -m monai.bundle run [WORKFLOW] --config_file CONFIGS --KEY VALUE ...`` of bundle ``kind``.

    Args:
        name: the step's name (its log and record are named after it).
        kind: ``seg`` or ``cls`` (:data:`BUNDLES`).
        configs: config names in the bundle's ``configs/``, merged in order (``["train", "evaluate"]``).
        args: the command line's overrides, in order.
        outputs: the files or folders the step must leave.
        inputs: files whose contents decide whether an earlier run still holds; the bundle's configs
            are always among them.
        workflow: the bundle's workflow (``training``, ``evaluating``, ``recalibrate``), None for ``run``'s own.
        settings: what else decides it (recorded with the step).
        work_dirs: folders of its outputs and resumable state.
        resume: a training step: its resume checkpoints (:data:`RESUME_FILES`) go once it is complete.
    """
    files = [bundle_config(kind, c) for c in configs]
    config_file = str(files[0]) if len(files) == 1 else "[" + ",".join(f"'{f}'" for f in files) + "]"
    return Step(
        name=name,
        command=bundle_command(
            "run", *([workflow] if workflow else []), "--config_file", config_file, *override_args(args)
        ),
        outputs=list(outputs),
        inputs=[*inputs, *sorted(_configs_dir(kind).glob("*.json"))],
        settings=dict(settings or {}),
        work_dirs=list(work_dirs),
        resume_files=list(RESUME_FILES) if resume else [],
    )


def module_step(
    name: str,
    module: str,
    args: Sequence[Any],
    outputs: Iterable[Path],
    inputs: Iterable[Path] = (),
    settings: Mapping[str, Any] | None = None,
    work_dirs: Iterable[Path] = (),
) -> Step:
    """``python -m MODULE ARGS...`` of the project (a data-list builder, the synthetic data, the gate's sets)."""
    return Step(
        name=name,
        command=[sys.executable, "-m", module, *map(str, args)],
        outputs=list(outputs),
        inputs=list(inputs),
        settings=dict(settings or {}),
        work_dirs=list(work_dirs),
    )
