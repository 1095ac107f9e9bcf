"""The study's input-gate steps: the images the gate must not answer on, and their lung masks."""

from __future__ import annotations

from monai_ext.tools.gate_targets import SETS_FILE
from monai_ext.tools.reproduce.bundle_steps import module_step
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.segmentation import segment_folder_step
from monai_ext.tools.reproduce.steps import Step

__all__ = ["gate_steps"]


def gate_steps(paths: StudyPaths, profile: dict) -> list[Step]:
    """The images the input gate must not answer on (other modalities and body parts, natural images, and
    the first ``gate.per_set`` test radiographs inverted, turned and upside down:
    :func:`monai_ext.tools.gate_targets.write_sets`), then their lung masks (with the segmenter's test-time
    disagreement, in the manifest) by the study's model, once for every classifier."""
    per_set = profile["gate"].get("per_set")
    return [
        module_step(
            "gate_sets",
            "monai_ext.tools.gate_targets",
            [
                "--sets-only",
                "--cxr",
                paths.covidx / "test",
                "--out",
                paths.gate_sets,
                *(["--per-set", per_set] if per_set else []),
            ],
            outputs=[paths.gate_sets / SETS_FILE],
            settings={"per_set": per_set},
            work_dirs=[paths.gate_sets],
        ),
        segment_folder_step(
            "gate_masks", paths, profile, paths.gate_sets, paths.gate_masks, [paths.gate_sets / SETS_FILE]
        ),
    ]
