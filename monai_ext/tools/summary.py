"""The few lines a newcomer reads at the end of ``make demo``: did it work, how well, where is what.

    python -m monai_ext.tools.summary --seg-eval results/demo/seg/eval --cls-eval results/demo/cls/eval \\
        --masks results/demo/masks --models results/demo/seg/models results/demo/cls/models

Reads the evaluation outputs the bundles wrote (``metrics_summary.json`` of segmentation, ``metrics.json``
of classification); writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from monai_ext.constants import METRICS_CSV_FILE, METRICS_FILE, METRICS_SUMMARY_FILE, MODEL_CARD_FILE, PREDICTIONS_FILE

__all__ = ["demo_summary"]


def _figure(value: float | None, ci: list | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    low, high = (ci or [None, None])[:2]
    return f"{value:.{digits}f}" + (f" (95% CI {low:.{digits}f}-{high:.{digits}f})" if low is not None else "")


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def demo_summary(seg_eval: Path, cls_eval: Path, masks: Path | None = None, models: list[Path] | None = None) -> str:
    """The summary's lines: segmentation Dice and classification accuracy and ROC AUC with their intervals,
    each on its test split, and where the figures, masks and model cards are."""
    lines = [
        "",
        "Demo finished. Synthetic data: these figures show that the pipeline works, not how well it reads real radiographs.",
    ]
    seg = _read(seg_eval / METRICS_SUMMARY_FILE)
    if seg and "val_mean_dice" in seg.get("per_image", {}):
        dice = seg["per_image"]["val_mean_dice"]
        lines.append(
            f"  lung segmentation (test split, {dice['n']} images): mean Dice {_figure(dice['mean'], dice.get('ci95'))}"
        )
    else:
        lines.append(f"  lung segmentation: no figures in {seg_eval} (did its evaluation run?)")
    cls = _read(cls_eval / METRICS_FILE)
    if cls:
        overall = cls["overall"]
        acc, auc = overall["accuracy"], overall["auc"]
        lines.append(
            f"  COVID-19 classification (test split, {overall['n']} images): accuracy {_figure(acc['value'], acc['ci95'])}, "
            f"ROC AUC {_figure(auc['value'], auc['ci95'])}"
        )
        gating = overall.get("gating")
        if gating:
            rate, answered = gating["abstention_rate"], gating["answered_accuracy"]
            lines.append(
                f"    the input gate abstained on {rate['k']} of {rate['n']}; its decisions at the operating threshold were right on "
                f"{_figure(answered['value'], answered['ci95'])} of those answered"
            )
    else:
        lines.append(f"  COVID-19 classification: no figures in {cls_eval} (did its evaluation run?)")
    lines.append("  files:")
    lines.append(f"    segmentation figures  {seg_eval / METRICS_SUMMARY_FILE}")
    lines.append(f"    classification figures {cls_eval / METRICS_FILE} (and {METRICS_CSV_FILE}, {PREDICTIONS_FILE})")
    if masks is not None:
        lines.append(f"    predicted lung masks  {masks} ({sum(1 for _ in masks.rglob('*.png'))} PNG)")
    for folder in models or []:
        if (folder / MODEL_CARD_FILE).is_file():
            lines.append(f"    model card            {folder / MODEL_CARD_FILE}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.summary", description=__doc__.splitlines()[0])
    parser.add_argument("--seg-eval", type=Path, required=True, help="the segmentation evaluation's output folder")
    parser.add_argument("--cls-eval", type=Path, required=True, help="the classification evaluation's output folder")
    parser.add_argument("--masks", type=Path, default=None, help="the predicted masks' folder")
    parser.add_argument("--models", type=Path, nargs="*", default=[], help="model folders whose cards to point at")
    args = parser.parse_args(argv)
    print(demo_summary(args.seg_eval, args.cls_eval, args.masks, args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
