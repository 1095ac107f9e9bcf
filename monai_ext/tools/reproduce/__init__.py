"""The study driver behind ``make reproduce`` (``python -m monai_ext.tools.reproduce``): the profiles
(``profiles``, one JSON file each in ``profiles/``), the run folder's layout (``paths``), one step module
per experiment (``segmentation``, ``classification``, ``gate``, ``shortcut``, ``loso``) built from bundle
and module steps (``bundle_steps``) and put in order by ``study``; the steps run, resume and are skipped
by ``steps``; the figures, results, shortcut probe and report come after (``figures``, ``results``,
``probe``, ``report``)."""

from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.profiles import PROFILES, load_profile
from monai_ext.tools.reproduce.steps import Step, StepFailed, StepRunner
from monai_ext.tools.reproduce.study import study_steps

__all__ = ["PROFILES", "Step", "StepFailed", "StepRunner", "StudyPaths", "load_profile", "study_steps"]
