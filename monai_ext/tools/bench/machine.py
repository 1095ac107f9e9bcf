"""What machine a benchmark ran on."""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

import monai
import torch

__all__ = ["GEMM_BUDGET_S", "GEMM_PROBE", "GEMM_SIZE", "gemm_line", "gemm_rates", "machine_info"]

#: the side of the square matrix product whose rate tells machines of one kind apart (machines sold as the
#: same AMD EPYC have run its bf16 product at 380 and at 850 GFLOP/s, fp32 at 160-186)
GEMM_SIZE = 2048
#: the side of the product that times a precision first, and the step of a smaller side (see gemm_rates)
GEMM_PROBE = 256
#: the longest one timed product of gemm_rates may take, about (seconds)
GEMM_BUDGET_S = 1.0


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gemm_rates(
    device: str | torch.device = "cpu", size: int = GEMM_SIZE, repeats: int = 5, budget_s: float = GEMM_BUDGET_S
) -> dict[str, Any]:
    """GFLOP/s of a ``size`` x ``size`` matrix product on ``device`` with torch's threads, in fp32 and bf16:
    the median of ``repeats`` products after one to warm up (2 size^3 floating-point operations each).

    A precision whose product would take longer than ``budget_s`` (bf16 on a CPU without bf16 instructions
    is emulated: a hundred times slower than fp32) is measured on the largest multiple of
    :data:`GEMM_PROBE` that fits the budget, as timed on one product of that side; its side is then given
    as ``<precision>_size``.

    Args:
        device: where the product runs ("cpu", "cuda", ...).
        size: the matrices' side.
        repeats: timed products per precision.
        budget_s: the longest one timed product may take, about.
    """
    device = torch.device(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(a: torch.Tensor, b: torch.Tensor) -> float:
        sync()
        start = time.perf_counter()
        torch.matmul(a, b)
        sync()
        return time.perf_counter() - start

    rates: dict[str, Any] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        side = size
        if size > GEMM_PROBE:
            probe = torch.ones(GEMM_PROBE, GEMM_PROBE, device=device, dtype=dtype)
            torch.matmul(probe, probe)
            predicted = timed(probe, probe) * (size / GEMM_PROBE) ** 3
            if predicted > budget_s:
                side = max(GEMM_PROBE, int(size * (budget_s / predicted) ** (1 / 3)) // GEMM_PROBE * GEMM_PROBE)
                rates[f"{name}_size"] = side
        generator = torch.Generator().manual_seed(0)
        a, b = (torch.randn(side, side, generator=generator).to(device, dtype) for _ in range(2))
        torch.matmul(a, b)
        seconds = [timed(a, b) for _ in range(repeats)]
        rates[name] = round(2 * side**3 / statistics.median(seconds) / 1e9, 1)
    return rates


def machine_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    """CPU model, torch's thread count, AMX and AVX512-BF16 support, the GPU (or None), the matrix product's
    rates on ``device`` (:func:`gemm_rates`), versions."""
    return {
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        "avx512_bf16": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gemm_gflops": {"size": GEMM_SIZE, "device": str(device), **gemm_rates(device)},
        "torch": torch.__version__,
        "monai": monai.__version__,
        "python": platform.python_version(),
    }


def gemm_line(gemm: dict[str, Any]) -> str:
    """The rates of :func:`machine_info`'s ``gemm_gflops`` as one sentence, bf16 as a ratio to fp32 too."""
    smaller = "".join(
        f" ({name} at {gemm[name + '_size']} x {gemm[name + '_size']})"
        for name in ("fp32", "bf16")
        if name + "_size" in gemm
    )
    return (
        f"GEMM {gemm['size']} x {gemm['size']} on {gemm['device']}: {gemm['fp32']:g} GFLOP/s fp32, "
        f"{gemm['bf16']:g} bf16 ({gemm['bf16'] / gemm['fp32']:.1f}x fp32){smaller}"
    )
