"""The study driver behind ``make reproduce`` (``python -m monai_ext.reproduce``)."""

from monai_ext.reproduce.steps import Step, StepFailed, StepRunner
from monai_ext.reproduce.study import PROFILES, StudyPaths, study_steps

__all__ = ["PROFILES", "Step", "StepFailed", "StepRunner", "StudyPaths", "study_steps"]
