"""Training throughput: each bundle's own ``SupervisedTrainer`` against a plain PyTorch loop, fp32 and AMP.

Both sides train the same network with the same loss and optimizer, read from the bundle's
``train.json`` (so the figures are the bundle's, not a re-creation), on the same batches of random
tensors cached in memory: the data pipeline is left out on purpose, it is measured apart. The
trainer keeps its per-iteration postprocessing and key metric (part of what the bundle costs) but no
validation, checkpoints or logging. AMP is what ``--amp True`` gives on this device
(:func:`monai_ext.networks.autocast_dtype`).
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from ignite.engine import Events
from monai.bundle import ConfigParser
from torch.utils.data import DataLoader

from monai_ext.constants import BINARY_CLASSES, CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE, Keys
from monai_ext.networks import BACKBONES, autocast_dtype

__all__ = ["CASES", "TrainingCase", "bench_training"]


@dataclass(frozen=True)
class TrainingCase:
    """One network at one input size and batch size."""

    name: str
    bundle: str
    image_size: int
    batch_size: int
    backbone: str | None = None


#: the networks and sizes of the study (the issue's list)
CASES = (
    TrainingCase("FPN-DenseNet121", SEG_BUNDLE, 256, 8),
    TrainingCase(BACKBONES["resnet50"].display_name, CLS_BUNDLE, 224, 8, "resnet50"),
    *(TrainingCase(b.display_name, CLS_BUNDLE, 64, 16, b.name) for b in BACKBONES.values()),
)


def _parser(case: TrainingCase, amp: bool, device: torch.device) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(REPO_ROOT / "bundles" / case.bundle / "configs" / "train.json"))
    overrides: dict[str, Any] = {
        "image_size": case.image_size,
        "batch_size": case.batch_size,
        "amp": amp,
        "device": f"$torch.device('{device}')",
        "train#handlers": [],
        "train#rank0_handlers": [],
    }
    if case.backbone:
        overrides.update(backbone=case.backbone, class_names=list(BINARY_CLASSES))
    parser.update(overrides)
    return parser


def _batches(case: TrainingCase, n: int, device: torch.device) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    size, b = case.image_size, case.batch_size
    if case.bundle == SEG_BUNDLE:
        make = lambda: {
            Keys.IMAGE: torch.rand(b, 1, size, size, generator=gen),
            Keys.LABEL: (torch.rand(b, 1, size, size, generator=gen) > 0.5).float(),
        }
    else:
        make = lambda: {
            Keys.IMAGE: torch.rand(b, 3, size, size, generator=gen),
            Keys.LABEL: torch.randint(0, 2, (b,), generator=gen),
        }
    return [{k: v.to(device) for k, v in make().items()} for _ in range(n)]


def _plain_loop(parser: ConfigParser, batches, dtype: torch.dtype | None, device: torch.device) -> list[float]:
    network, loss_fn, optimizer = (parser.get_parsed_content(k) for k in ("network", "loss", "optimizer"))
    network.train()
    times = []
    for batch in batches:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        x = batch[Keys.IMAGE].contiguous(memory_format=torch.channels_last)
        cast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with cast:
            out = network(x)
        loss = loss_fn(out.float(), batch[Keys.LABEL])
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def _bundle_trainer(parser: ConfigParser, batches) -> list[float]:
    parser["train#dataloader"] = DataLoader(batches, batch_size=None, shuffle=False)
    trainer = parser.get_parsed_content("train#trainer")
    marks: list[float] = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda e: marks.append(time.perf_counter()))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: marks.append(time.perf_counter()))
    trainer.run()
    return [marks[i + 1] - marks[i] for i in range(0, len(marks), 2)]


#: images/s of :func:`reference_rate`'s loop on the reference machine, where the default study's 15-minute
#: budget is set (``make bench``'s plain fp32 FPN-DenseNet121 case on a 2-core CPU)
REFERENCE_IMAGES_PER_S = 7.0


@functools.cache
def reference_rate(iterations: int = 2, device: str = "cpu") -> float:
    """Images/s of the plain fp32 FPN-DenseNet121 training loop at 256 px, batch 8 (``make bench``'s first case;
    the median of ``iterations`` after one warm-up): a study's time is read against it. Measured once per
    process (the machine does not change under it)."""
    device = torch.device(device)
    case = CASES[0]
    batches = _batches(case, iterations + 1, device)
    torch.manual_seed(0)
    times = _plain_loop(_parser(case, False, device), batches, None, device)[1:]
    return case.batch_size / statistics.median(times)


def bench_training(case: TrainingCase, iterations: int = 4, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Images/s (median over ``iterations`` after one warm-up iteration) of the plain loop and the bundle's
    trainer, in fp32 and with AMP, and their ratios."""
    device = torch.device(device)
    result: dict[str, Any] = {"network": case.name, "image_size": case.image_size, "batch_size": case.batch_size}
    dtype = autocast_dtype(device, True)
    result["amp_dtype"] = str(dtype).replace("torch.", "") if dtype is not None else None
    for amp in (False, True):
        if amp and dtype is None:
            continue
        precision = "amp" if amp else "fp32"
        batches = _batches(case, iterations + 1, device)
        # the plain loop autocasts by hand around a network without the bundle's precision hooks
        torch.manual_seed(0)
        plain = _plain_loop(_parser(case, False, device), batches, dtype if amp else None, device)[1:]
        torch.manual_seed(0)
        bundle = _bundle_trainer(_parser(case, amp, device), batches)[1:]  # the first iteration warms up
        for name, times in (("plain", plain), ("bundle", bundle)):
            result[f"{name}_{precision}_images_per_s"] = case.batch_size / statistics.median(times)
        result[f"bundle_vs_plain_{precision}"] = (
            result[f"bundle_{precision}_images_per_s"] / result[f"plain_{precision}_images_per_s"]
        )
    if dtype is not None:
        result["amp_vs_fp32_bundle"] = result["bundle_amp_images_per_s"] / result["bundle_fp32_images_per_s"]
        result["amp_vs_fp32_plain"] = result["plain_amp_images_per_s"] / result["plain_fp32_images_per_s"]
    return result
