"""End-to-end latency of one radiograph -> lung mask -> class, through the bundles' own inference
preprocessing, networks and postprocessing (weights freshly initialised: latency does not depend on
them), split into its parts, with the process's peak memory.

Run as ``python -m monai_ext.tools.bench.inference --input FILE [--amp]``: it prints one JSON object. The
benchmark starts it in a fresh process per input, so each peak RSS belongs to that input alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from monai.transforms import Compose

from monai_ext.bundle import inference_parser
from monai_ext.constants import BINARY_CLASSES, CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE, Keys

__all__ = ["PARTS", "end_to_end", "peak_rss_mb"]

PARTS = ("load", "preprocess", "segment", "postprocess", "classify")
#: transforms of the segmentation postprocessing that write files or shape the output for other tools' writers,
#: not part of the latency (the plausibility check stays: the bundle's inference runs it on every mask)
_LEFT_OUT = ("SaveLungMaskd", "AsLabelImaged")


def _parsers(amp: bool, device: str):
    seg = inference_parser(REPO_ROOT / "bundles" / SEG_BUNDLE, device=device)
    cls = inference_parser(REPO_ROOT / "bundles" / CLS_BUNDLE, device=device)
    seg["amp"] = amp
    cls.update({"amp": amp, "input_mode": "lung", "class_names": list(BINARY_CLASSES)})
    return seg, cls


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of ``/proc/self/status`` (``ru_maxrss`` would
    include the parent's peak, which Linux keeps across ``execve``), else ``ru_maxrss``."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def end_to_end(path: str | Path, amp: bool = False, repeats: int = 5, device: str = "cpu") -> dict[str, Any]:
    """Median seconds of each part over ``repeats`` warm runs, their total, and the peak RSS in MB."""
    seg, cls = _parsers(amp, device)
    pre = seg.get_parsed_content("preprocessing")
    load, seg_pre = pre.transforms[0], Compose(pre.transforms[1:])
    seg_net = seg.get_parsed_content("network").eval()
    post = Compose(
        [t for t in seg.get_parsed_content("postprocessing").transforms if type(t).__name__ not in _LEFT_OUT]
    )
    cls_pre = cls.get_parsed_content("preprocessing")
    cls_net = cls.get_parsed_content("network").eval()
    times: dict[str, list[float]] = {part: [] for part in PARTS}
    for _ in range(repeats + 1):  # the first run warms up
        marks = [time.perf_counter()]
        d = load({Keys.IMAGE: str(path)})
        marks.append(time.perf_counter())
        d = seg_pre(d)
        marks.append(time.perf_counter())
        with torch.no_grad():
            d[Keys.PRED] = seg_net(d[Keys.IMAGE][None].to(device))[0].cpu()
        marks.append(time.perf_counter())
        mask = post(d)[Keys.PRED]
        marks.append(time.perf_counter())
        c = cls_pre({Keys.IMAGE: load({Keys.IMAGE: str(path)})[Keys.IMAGE], Keys.LUNG: mask})
        with torch.no_grad():
            probs = torch.softmax(cls_net(c[Keys.IMAGE][None].to(device)).float(), dim=1)
        marks.append(time.perf_counter())
        for i, part in enumerate(PARTS):
            times[part].append(marks[i + 1] - marks[i])
    medians = {part: statistics.median(values[1:]) for part, values in times.items()}
    return {
        "input": Path(path).name,
        "shape": list(mask.shape[-2:]),
        "amp": amp,
        "seconds": medians,
        "total_s": sum(medians.values()),
        "peak_rss_mb": peak_rss_mb(),
        "probabilities": [round(float(p), 4) for p in probs[0]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monai_ext.tools.bench.inference", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--input", required=True)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    print(json.dumps(end_to_end(args.input, args.amp, args.repeats, args.device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
