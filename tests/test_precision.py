"""Mixed precision as a bundle setting: what --amp means on this device, outputs within what bf16 explains,
and the benchmark command's figures (their structure, not their speed)."""

from __future__ import annotations

import pytest
import torch

from monai_ext.networks import FPNDenseNet121, TorchVisionClassifier, autocast_dtype, engine_amp, with_precision

FAST_BF16 = autocast_dtype("cpu", True) is not None
needs_bf16 = pytest.mark.skipif(not FAST_BF16, reason="this CPU has no native bf16 (AMX or AVX512-BF16)")


def test_amp_means_bf16_on_a_cpu_with_native_bf16_and_engines_autocast_only_on_cuda():
    assert autocast_dtype("cpu", False) is None
    assert autocast_dtype("cpu", True) == (torch.bfloat16 if FAST_BF16 else None)
    assert engine_amp(True, "cpu") is False and engine_amp(False, "cuda") is False and engine_amp(True, "cuda") is True
    with pytest.raises(TypeError, match="--amp False"):
        engine_amp("false", "cpu")


@needs_bf16
@pytest.mark.parametrize(
    ("make", "shape", "tolerance"),
    [
        (FPNDenseNet121, (2, 1, 128, 128), 0.03),  # largest sigmoid difference of a lung probability
        (lambda: TorchVisionClassifier("resnet50", 2), (2, 3, 96, 96), 0.01),  # of a class probability
    ],
)
def test_bf16_outputs_are_float32_and_within_what_the_precision_explains(make, shape, tolerance):
    torch.manual_seed(0)
    net, x = make().eval(), torch.rand(*shape)
    with torch.no_grad():
        fp32 = net(x)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        fast = with_precision(net, "cpu", True)
        bf16 = fast(x)
    assert fast is net and bf16.dtype == torch.float32 and net.autocast_dtype == torch.bfloat16
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # weights and their names untouched
    probs = torch.sigmoid if shape[1] == 1 else (lambda t: torch.softmax(t, dim=1))
    assert (probs(fp32) - probs(bf16)).abs().max() < tolerance
    assert not torch.equal(fp32, bf16)  # bf16 really ran
    assert not torch.is_autocast_enabled("cpu")  # the forward hook left autocast again


@needs_bf16
def test_training_backward_runs_in_float32_gradients():
    torch.manual_seed(0)
    net = with_precision(TorchVisionClassifier("resnet50", 2), "cpu", True).train()
    loss = torch.nn.functional.cross_entropy(net(torch.rand(2, 3, 64, 64)), torch.tensor([0, 1]))
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_benchmark_figures_have_their_parts(tmp_path):
    from dataclasses import replace

    import numpy as np

    from monai_ext.data import write_png
    from monai_ext.tools.bench.inference import PARTS, end_to_end
    from monai_ext.tools.bench.training import CASES, bench_training

    case = replace(CASES[2], image_size=32, batch_size=2)  # ResNet50, shrunk
    result = bench_training(case, iterations=1)
    for precision in ("fp32", "amp") if FAST_BF16 else ("fp32",):
        plain, bundle = result[f"plain_{precision}_images_per_s"], result[f"bundle_{precision}_images_per_s"]
        assert plain > 0 and bundle > 0 and result[f"bundle_vs_plain_{precision}"] == pytest.approx(bundle / plain)
    write_png((np.random.default_rng(0).random((300, 200)) * 255).astype(np.uint8), tmp_path / "cxr.png")
    latency = end_to_end(tmp_path / "cxr.png", amp=False, repeats=1)
    assert set(latency["seconds"]) == set(PARTS) and latency["shape"] == [300, 200]
    assert latency["total_s"] == pytest.approx(sum(latency["seconds"].values()))
    assert sum(latency["probabilities"]) == pytest.approx(1.0, abs=1e-3) and latency["peak_rss_mb"] > 0


def test_gemm_rates_are_the_products_flops_over_their_median_time(monkeypatch):
    import itertools

    from monai_ext.tools.bench import machine

    ticks = itertools.count()
    durations = itertools.cycle([0.5e-6, 0.25e-6, 1e-6])  # per product: the median is 0.5 us
    clock = {"t": 0.0}

    def perf_counter() -> float:  # start and end of each timed product, alternately
        if next(ticks) % 2:
            clock["t"] += next(durations)
        return clock["t"]

    monkeypatch.setattr(machine.time, "perf_counter", perf_counter)
    rates = machine.gemm_rates(size=100, repeats=3)
    assert rates == {"fp32": 4000.0, "bf16": 4000.0}  # 2 x 100^3 operations in 0.5 us, each precision
    assert machine.gemm_line({"size": 100, "device": "cpu", "fp32": 160.0, "bf16": 400.0}) == (
        "GEMM 100 x 100 on cpu: 160 GFLOP/s fp32, 400 bf16 (2.5x fp32)"
    )


def test_a_precision_too_slow_for_the_budget_is_timed_on_a_smaller_product():
    from monai_ext.tools.bench import machine

    rates = machine.gemm_rates(size=512, repeats=1, budget_s=1e-9)  # nothing fits: the probe's side
    assert rates["fp32_size"] == rates["bf16_size"] == machine.GEMM_PROBE and rates["fp32"] > 0
    gemm = {"size": 2048, "device": "cpu", "fp32": 150.0, "bf16": 1.5, "bf16_size": 512}
    assert (
        machine.gemm_line(gemm) == "GEMM 2048 x 2048 on cpu: 150 GFLOP/s fp32, 1.5 bf16 (0.0x fp32) (bf16 at 512 x 512)"
    )
