"""Mixed precision as a bundle setting: ``amp`` means the fastest safe precision for the device.

MONAI's ``SupervisedTrainer`` and ``SupervisedEvaluator`` autocast on CUDA only (``torch.autocast("cuda")``
with a ``GradScaler``), so ``amp=True`` on a CPU changes nothing there. :func:`with_precision` fills the
gap without a hand-written training loop and without an engine subclass: on a CPU with native bf16
matrix math (AMX or AVX512-BF16) it registers a forward pre-hook and hook on the network that run the
forward pass under ``torch.autocast("cpu", dtype=torch.bfloat16)`` and hand back float32 outputs, so
the loss, the backward pass bookkeeping, the metrics and the postprocessing stay as they are. The
network's class and ``state_dict`` are untouched (checkpoints, export and TorchScript do not see the
hooks). A network wrapper would have renamed every weight; an engine subclass would have had to copy
MONAI's ``_iteration``. On CUDA the engines' own AMP does the work (:func:`engine_amp`).
"""

from __future__ import annotations

import torch
from torch import nn

from monai_ext.errors import SettingError

__all__ = ["autocast_dtype", "cpu_has_fast_bf16", "engine_amp", "with_precision"]


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (Intel AMX tiles or AVX512-BF16)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(device: str | torch.device, amp: bool) -> torch.dtype | None:
    """The autocast dtype ``amp`` means on ``device``: None when off or when the device has no fast path;
    bf16 on a CPU with native bf16; on CUDA, bf16 where the GPU supports it, else fp16."""
    if not amp:
        return None
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def engine_amp(amp: bool, device: str | torch.device) -> bool:
    """The ``amp`` flag for MONAI's engines: True on CUDA only (they autocast to CUDA and scale gradients)."""
    if not isinstance(amp, bool):
        raise SettingError(f"amp must be True or False, got {amp!r} (on the command line: --amp False)")
    return amp and torch.device(device).type == "cuda"


class _CPUAutocast:
    """Forward pre-hook and hook pair: enter bf16 autocast before the forward pass, leave it and cast the
    floating outputs back to float32 after."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self._contexts: list[torch.autocast] = []

    def enter(self, module: nn.Module, args) -> None:
        context = torch.autocast("cpu", dtype=self.dtype)
        context.__enter__()
        self._contexts.append(context)

    def leave(self, module: nn.Module, args, output):
        self._contexts.pop().__exit__(None, None, None)
        return _to_float32(output)


def _to_float32(output):
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() and output.dtype != torch.float32 else output
    if isinstance(output, (list, tuple)):
        return type(output)(_to_float32(o) for o in output)
    if isinstance(output, dict):
        return {k: _to_float32(v) for k, v in output.items()}
    return output


def with_precision(network: nn.Module, device: str | torch.device, amp: bool) -> nn.Module:
    """``network`` set up for ``amp`` on ``device`` (see the module's docs); returned for use in configs.

    On a CPU with native bf16 and ``amp=True`` the forward pass runs under bf16 autocast (float32 outputs);
    everywhere else the network is returned as it is (on CUDA, pass :func:`engine_amp` to the engines).
    """
    dtype = autocast_dtype(device, amp)
    if dtype is not None and torch.device(device).type == "cpu":
        hooks = _CPUAutocast(dtype)
        network.register_forward_pre_hook(hooks.enter)
        network.register_forward_hook(hooks.leave, always_call=True)  # leaves autocast even when forward raises
        network.autocast_dtype = dtype  # what a reader (and the benchmark) can check
    return network
