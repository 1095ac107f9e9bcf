"""The manifest of a batch inference run: every input, with what was written for it or why it was skipped."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ignite.engine import Engine

from monai_ext.constants import Keys
from monai_ext.data.inputs import MANIFEST_NAME, write_manifest
from monai_ext.handlers.outputs import RowWriter, item_field

__all__ = ["InferenceManifest"]


class InferenceManifest(RowWriter):
    """Write ``output_dir/manifest.csv`` when an inference run completes: a row per input with ``input``,
    ``status`` (``written`` or ``skipped``), ``output`` and ``reason``, plus the ``fields`` asked for.

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
        self.path = Path(output_dir) / MANIFEST_NAME
        self.skipped = list(skipped)
        self.output = output
        self.fields = list(fields)
        super().__init__()

    def collect(self, engine: Engine) -> None:
        for item, out in zip(engine.state.batch, engine.state.output):
            row = {
                "input": item.get(Keys.NAME, ""),
                "status": "written",
                "output": item.get(Keys.MASK_NAME) or self.output,
            }
            row.update({name: item_field(item, out, name) for name in self.fields})
            self.rows.append(row)

    def write(self, engine: Engine | None = None) -> None:
        write_manifest(self.path, self.rows, self.skipped, self.fields)
