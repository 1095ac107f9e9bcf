"""``make bench``: training throughput (bundle trainer vs plain loop, fp32 vs AMP), end-to-end latency
(DICOM -> mask -> class, by part, with peak memory) and inference throughput over a folder (both
bundles' workflows) on this machine, in one run.

    python -m monai_ext.tools.bench [--out results/bench] [--device cuda] [--quick]

Prints a table and writes ``bench.json`` and ``bench.md`` to ``--out``. Each figure is the median over
repeats. ``--quick`` shrinks every case (for a smoke test of the command, not for figures).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_ext.constants import REPO_ROOT
from monai_ext.data.image_writer import write_png
from monai_ext.tools.bench.machine import gemm_line, machine_info
from monai_ext.tools.bench.throughput import folder_throughput
from monai_ext.tools.bench.training import CASES, bench_training
from monai_ext.utils import atomic_path, write_json

__all__ = ["main", "run_benchmark"]

#: what the benchmark measures
PARTS = ("training", "latency", "throughput")
#: the side of the very large radiograph of the latency test (issue: an 8000 x 8000 input)
LARGE_SIDE = 8000
#: copies of the CR in the folder of the throughput test
FOLDER_COPIES = 24


def _large_png(folder: Path, side: int) -> Path:
    """A smooth 16-bit grey PNG of ``side`` x ``side`` (a stand-in for a very large radiograph)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    image = (0.5 + 0.4 * np.sin(6 * x) * np.cos(4 * y)) * 65535
    path = folder / f"large_{side}.png"
    write_png(image.astype(np.uint16), path)
    return path


def _latency(path: Path, amp: bool, repeats: int, device: str) -> dict[str, Any]:
    """One end-to-end latency measurement in a fresh process (so its peak RSS is its own)."""
    cmd = [
        sys.executable,
        "-m",
        "monai_ext.tools.bench.inference",
        "--input",
        str(path),
        "--repeats",
        str(repeats),
        "--device",
        device,
        *(["--amp"] if amp else []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_benchmark(device: str = "cpu", quick: bool = False, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Every figure of the benchmark as one dictionary (what ``bench.json`` holds); ``parts`` picks
    among :data:`PARTS`."""
    from pydicom.data import get_testdata_file

    cases = CASES
    if quick:
        cases = tuple(replace(c, image_size=32, batch_size=2) for c in CASES[1:3])
    result: dict[str, Any] = {"machine": machine_info(device), "device": device} | {part: [] for part in PARTS}
    cr = Path(get_testdata_file("RG1_UNCR.dcm"))
    if "training" in parts:
        result["training"] = [bench_training(case, iterations=1 if quick else 4, device=device) for case in cases]
    if "latency" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            inputs = [cr, _large_png(Path(tmp), 256 if quick else LARGE_SIDE)]
            repeats = 1 if quick else 5
            result["latency"] = [
                _latency(path, amp, repeats if i == 0 else max(1, repeats // 2), device)
                for i, path in enumerate(inputs)
                for amp in (False, True)
            ]
    if "throughput" in parts:
        copies = 2 if quick else FOLDER_COPIES
        result["throughput"] = [row for amp in (False, True) for row in folder_throughput(cr, copies, amp, device)]
    return result


def _markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Benchmark",
        "",
        (
            f"Machine: {m['cpu']}, {m['threads']} threads, AMX {m['amx']}, AVX512-BF16 {m['avx512_bf16']}, "
            f"GPU {m['gpu'] or 'none'}; torch {m['torch']}, MONAI {m['monai']}; device {result['device']}."
        ),
        "",
        gemm_line(m["gemm_gflops"]),
        "",
        "## Training, images/s (median)",
        "",
        (
            "| network | px | batch | plain fp32 | bundle fp32 | bundle/plain | plain AMP | bundle AMP | bundle/plain "
            "| AMP/fp32 (bundle) | AMP dtype |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in result["training"]:

        def f(key: str, t: dict = t) -> str:
            return f"{t[key]:.2f}" if key in t else "n/a"

        lines.append(
            f"| {t['network']} | {t['image_size']} | {t['batch_size']} | {f('plain_fp32_images_per_s')} | "
            f"{f('bundle_fp32_images_per_s')} | {f('bundle_vs_plain_fp32')} | {f('plain_amp_images_per_s')} | "
            f"{f('bundle_amp_images_per_s')} | {f('bundle_vs_plain_amp')} | {f('amp_vs_fp32_bundle')} | "
            f"{t['amp_dtype'] or 'none'} |"
        )
    lines += [
        "",
        "## End to end: radiograph -> lung mask -> class (warm, seconds, median)",
        "",
        "| input | size | AMP | load | preprocess | segment | postprocess | classify | total | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["latency"]:
        s = r["seconds"]
        lines.append(
            f"| {r['input']} | {r['shape'][0]}x{r['shape'][1]} | {'yes' if r['amp'] else 'no'} | {s['load']:.3f} | "
            f"{s['preprocess']:.3f} | {s['segment']:.3f} | {s['postprocess']:.3f} | {s['classify']:.3f} | "
            f"{r['total_s']:.3f} | {r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "## Inference over a folder (bundle workflows, copies of the CR)",
        "",
        "| bundle | images | AMP | seconds | images/s |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['bundle']} | {r['images']} | {'yes' if r['amp'] else 'no'} | {r['seconds']:.2f} | {r['images_per_s']:.2f} |"
        for r in result["throughput"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "results" / "bench"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny cases: a smoke test of the command, not figures")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args(argv)
    logging.getLogger("monai_ext").setLevel(logging.ERROR)  # plausibility warnings of random-weight masks
    result = run_benchmark(args.device, args.quick, tuple(args.parts))
    out = Path(args.out)
    write_json(result, out / "bench.json")
    text = _markdown(result)
    with atomic_path(out / "bench.md") as tmp:
        tmp.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
