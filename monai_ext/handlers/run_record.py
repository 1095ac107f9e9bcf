"""What wrote a resume checkpoint: the bundle, the network and the settings a resumed run must share."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch

from monai_ext.networks.weights import unwrap

__all__ = ["RunRecord"]


class RunRecord:
    """What a resume checkpoint was written by: the bundle, the network (class, parameter count and a
    digest of its parameter names and shapes) and the settings a resumed run must share.

    Put it in the resume state (``"run"``); :class:`LatestCheckpointLoader` compares it before loading.

    Args:
        bundle: the bundle's name.
        network: the network trained.
        settings: values that define the run (image size, backbone, input mode, classes ...).
    """

    def __init__(self, bundle: str, network: torch.nn.Module, settings: Mapping[str, Any] | None = None) -> None:
        net = unwrap(network)
        shapes = [(name, tuple(p.shape)) for name, p in net.state_dict().items()]
        self.record = OrderedDict(
            bundle=bundle,
            network=type(net).__name__,
            parameters=int(sum(p.numel() for p in net.parameters())),
            shapes_digest=hashlib.sha256(repr(shapes).encode()).hexdigest()[:16],
            settings={k: (list(v) if isinstance(v, tuple) else v) for k, v in (settings or {}).items()},
        )

    def model_settings(self) -> dict[str, Any]:
        """The bundle and the settings, as a model folder keeps them (``settings.json``)."""
        return {"bundle": self.record["bundle"], **self.record["settings"]}

    def describe(self, record: Mapping[str, Any] | None = None) -> str:
        r = self.record if record is None else record
        settings = ", ".join(f"{k} {v}" for k, v in r.get("settings", {}).items())
        return f"{r.get('bundle')} ({r.get('network')}, {r.get('parameters'):,} parameters{', ' + settings if settings else ''})"

    def state_dict(self) -> OrderedDict:
        return OrderedDict(self.record)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: :class:`LatestCheckpointLoader` compared the records before loading."""
