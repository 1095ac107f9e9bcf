"""Writes the model card (:mod:`monai_ext.bundle.model_card`) when training completes."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from ignite.engine import Engine, Events

from monai_ext.bundle.model_card import training_data_summary, write_model_card
from monai_ext.bundle.model_folder import read_model_folder, write_model_settings
from monai_ext.constants import SETTINGS_FILE

__all__ = ["ModelCardWriter"]


class ModelCardWriter:
    """When training completes: record the training data's summary in ``settings.json``
    (:func:`training_data_summary`) and write the model card. Attach it after the handlers that write the
    model folder (best model, calibration, gate).

    Args:
        save_dir: the model folder.
        bundle: the bundle being trained.
        datalist: the training data list.
    """

    def __init__(self, save_dir: str | os.PathLike, bundle: str, datalist: str | os.PathLike) -> None:
        self.save_dir, self.bundle, self.datalist = Path(save_dir), bundle, datalist

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine | None = None) -> Path | None:
        if not (self.save_dir / SETTINGS_FILE).is_file():
            return None  # no model saved (no validation ran)
        settings = read_model_folder(self.save_dir, self.bundle).settings
        write_model_settings({**settings, "training_data": training_data_summary(self.datalist)}, self.save_dir)
        return write_model_card(
            self.save_dir, self.bundle, note=f"Written by the bundle's training, {datetime.date.today().isoformat()}."
        )
