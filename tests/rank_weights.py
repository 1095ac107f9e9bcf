"""A handler for the multi-GPU tests: every rank saves its network's weights when training completes."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from ignite.engine import Engine, Events


class SaveWeightsPerRank:
    """Save ``network``'s state dict (DDP unwrapped) to ``folder/rank<R>.pt`` at the end of training."""

    def __init__(self, network: torch.nn.Module, folder: str) -> None:
        self.network = network
        self.folder = Path(folder)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        net = getattr(self.network, "module", self.network)
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), self.folder / f"rank{dist.get_rank()}.pt")
