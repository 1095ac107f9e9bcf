"""Early stopping that resumes: its patience counter and best score are part of the resume state."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from monai.handlers import EarlyStopHandler

__all__ = ["ResumableEarlyStopHandler"]


class ResumableEarlyStopHandler(EarlyStopHandler):
    """MONAI's :class:`EarlyStopHandler` whose patience counter and best score are part of the resume
    state (ignite's ``EarlyStopping`` is stateful; MONAI's wrapper did not pass it on)."""

    def state_dict(self) -> OrderedDict:
        if self._handler is None:
            raise RuntimeError("set the trainer (set_trainer) before saving the early-stopping state")
        state = self._handler.state_dict()
        if state.get("best_score") is not None:  # numpy scalars would not load with torch.load(weights_only=True)
            state["best_score"] = float(state["best_score"])
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self._handler is None:
            raise RuntimeError("set the trainer (set_trainer) before loading the early-stopping state")
        self._handler.load_state_dict(state)
