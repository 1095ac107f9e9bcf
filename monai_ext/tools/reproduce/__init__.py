"""The study driver behind ``make reproduce`` (``python -m monai_ext.tools.reproduce``)."""

from monai_ext.tools.reproduce.steps import Step, StepFailed, StepRunner
from monai_ext.tools.reproduce.study import PROFILES, StudyPaths, study_steps

__all__ = ["PROFILES", "Step", "StepFailed", "StepRunner", "StudyPaths", "study_steps"]
