"""What describes the best model beside it: the training settings (``settings.json``, with the weights'
SHA-256 and the best validation figure) and the class names (``classes.json``), written each time
:class:`~monai_ext.handlers.BestModelSaver` has written a new best model."""

from __future__ import annotations

from collections.abc import Sequence

from ignite.engine import Engine

from monai_ext.bundle.model_folder import write_class_names, write_model_settings
from monai_ext.handlers.best_model import BestModelEvents, BestModelSaver, register_best_model_events
from monai_ext.handlers.run_record import RunRecord
from monai_ext.utils import file_sha256

__all__ = ["ModelSettingsWriter"]


class ModelSettingsWriter:
    """Write the model folder's ``settings.json`` (and ``classes.json``) after each new best model.

    Attached to the trainer with the saver: at :attr:`BestModelEvents.SAVED` the run's bundle and settings
    are saved beside the weights (:mod:`monai_ext.bundle.model_folder`) with the SHA-256 of the file just
    written and its validation figure, so the model folder says how to use the model and which weights it
    describes.

    Args:
        best_model: the trainer's :class:`BestModelSaver`.
        run_record: the run's :class:`~monai_ext.handlers.RunRecord` (bundle and settings).
        class_names: the class names, saved as ``classes.json``; None for a model without classes.
    """

    def __init__(
        self, best_model: BestModelSaver, run_record: RunRecord, class_names: Sequence[str] | None = None
    ) -> None:
        self.best_model = best_model
        self.run_record = run_record
        self.class_names = None if class_names is None else list(class_names)

    def attach(self, engine: Engine) -> None:
        register_best_model_events(engine)
        engine.add_event_handler(BestModelEvents.SAVED, self)

    def __call__(self, engine: Engine | None = None) -> None:
        folder = self.best_model.path.parent
        if self.class_names is not None:
            write_class_names(self.class_names, folder)
        settings = {**self.run_record.model_settings(), "model_sha256": file_sha256(self.best_model.path)}
        if self.best_model.best_validation is not None:
            settings["validation"] = self.best_model.best_validation
        write_model_settings(settings, folder)
