"""Output transforms that turn a decollated engine output into what metric handlers take."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events

from monai_ext.constants import Keys

__all__ = ["RowWriter", "item_field", "item_label", "item_name", "probs_and_labels", "probs_and_onehot"]


def probs_and_labels(output: Sequence[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(probabilities (B, C), label indices (B,))`` for ignite's ``Accuracy`` on a multi-class output."""
    probs = torch.stack([torch.as_tensor(o[Keys.PRED]).float().flatten() for o in output])
    labels = torch.stack([torch.as_tensor(o[Keys.LABEL]).long().flatten()[0] for o in output])
    return probs, labels


def probs_and_onehot(output: Sequence[dict]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``([probabilities (C,)], [one-hot labels (C,)])`` for MONAI's ``ROCAUC`` handler."""
    probs, labels = probs_and_labels(output)
    onehot = torch.nn.functional.one_hot(labels, probs.shape[1]).float()
    return list(probs), list(onehot)


def item_field(item: Mapping, output: Mapping, name: str, default: Any = "") -> Any:
    """The value ``name`` of one decollated item: from the engine output, else the batch item, else the
    metadata of its image (where transforms such as ``ApplyLungMask`` record per-image facts)."""
    meta = getattr(item.get(Keys.IMAGE), "meta", {})
    value = output.get(name, item.get(name, meta.get(name, default)))
    return value.item() if hasattr(value, "item") else value


def item_name(item: Mapping, default: str = "") -> str:
    """A decollated item's name: its ``name`` (the input's relative path), else the file name of its image."""
    meta = getattr(item.get(Keys.IMAGE), "meta", {})
    return item.get(Keys.NAME) or Path(str(meta.get("filename_or_obj", default))).name


def item_label(item: Mapping) -> int | None:
    """A decollated item's class index, or None when it has no single label."""
    label = item.get(Keys.LABEL)
    return int(torch.as_tensor(label).item()) if label is not None and torch.as_tensor(label).numel() == 1 else None


class RowWriter:
    """Base of the handlers that collect a row per image over an evaluator run and write them at its end:
    ``start`` when the run starts (the rows start empty), ``collect`` at each iteration, ``write`` when
    the run completes."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def start(self, engine: Engine) -> None:
        self.rows.clear()

    def collect(self, engine: Engine) -> None:
        raise NotImplementedError

    def write(self, engine: Engine | None = None) -> None:
        raise NotImplementedError
