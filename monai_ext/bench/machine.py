"""What machine a benchmark ran on."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import monai
import torch

__all__ = ["machine_info"]


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, torch's thread count, AMX and AVX512-BF16 support, the GPU (or None), versions."""
    return {
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        "avx512_bf16": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "monai": monai.__version__,
        "python": platform.python_version(),
    }
