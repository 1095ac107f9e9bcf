"""The manifest of a batch inference run (every input, with what was written for it or why it was skipped),
and the mark that a job finished."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ignite.engine import Engine, Events

from monai_ext.constants import MANIFEST_FILE, Keys
from monai_ext.data.inputs import MANIFEST_COLUMNS, ManifestStatus, skipped_rows, write_manifest
from monai_ext.data.output_dir import finish_output_dir
from monai_ext.handlers.outputs import RowWriter, item_field
from monai_ext.utils import CSVRows

__all__ = ["FinishRun", "InferenceManifest"]


class InferenceManifest(RowWriter):
    """``output_dir/manifest.csv``, true at every instant: a row per input with ``input``, ``status``
    (``written`` or ``skipped``), ``output`` and ``reason``, plus the ``fields`` asked for.

    When the run starts the file is replaced by the inputs the scan skipped (an earlier run's manifest never
    outlives the start of the next one); each image's row is appended and flushed once its output is
    complete on disk, so a run killed midway leaves a manifest that lists exactly the outputs it finished;
    when the run completes the manifest is rewritten sorted by input name. An item whose output could not
    be written (``write_error``: a name too long, a full disk, a folder it may not write) gets a
    ``skipped`` row with that reason, and the run goes on.

    Args:
        output_dir: the run's output folder (a folder holding a manifest is never scanned as input).
        skipped: the inputs the input scan left out, ``{"input", "reason"}`` each.
        output: the output of every written row when items carry no ``mask_name`` (e.g. ``predictions.csv``).
        fields: extra columns, read per item from the engine output, the batch item, or its image's metadata.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        skipped: Sequence[dict[str, str]] = (),
        output: str = "",
        fields: Sequence[str] = (),
    ) -> None:
        self.path = Path(output_dir) / MANIFEST_FILE
        self.skipped = list(skipped)
        self.output = output
        self.fields = list(fields)
        self.file = CSVRows(self.path, [*MANIFEST_COLUMNS, *self.fields])
        super().__init__()

    def start(self, engine: Engine) -> None:
        super().start(engine)
        self.file.start(skipped_rows(self.skipped))

    def collect(self, engine: Engine) -> None:
        for item, out in zip(engine.state.batch, engine.state.output):
            error = item_field(item, out, Keys.WRITE_ERROR)
            row = {
                "input": item.get(Keys.NAME, ""),
                "status": ManifestStatus.SKIPPED if error else ManifestStatus.WRITTEN,
                "output": "" if error else item.get(Keys.MASK_NAME) or self.output,
                "reason": error,
            }
            row.update({name: item_field(item, out, name) for name in self.fields})
            self.rows.append(row)
            self.file.append(row)

    def write(self, engine: Engine | None = None) -> None:
        self.file.close()
        write_manifest(self.path, self.rows, self.skipped, self.fields)


class FinishRun:
    """Record, when the engine completes, that the job in ``output_dir`` is complete (``run.json``, see
    :mod:`monai_ext.data.output_dir`) and release the folder. Attach it after every handler that writes
    there (the bundles' configs put it last), so that ``complete`` means every output is on disk.

    Args:
        output_dir: the folder the job claimed (``claim_output_dir`` in the config's ``initialize``).
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        finish_output_dir(self.output_dir, iterations=int(engine.state.iteration))
