"""The study's report: the Models x Experiments table with 95% intervals, figures, manifest."""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.data.image_reader import read_cxr
from monai_ext.data.inputs import mask_lookup, mask_path_for
from monai_ext.metrics.classification import roc_curve
from monai_ext.metrics.intervals import bootstrap_mean
from monai_ext.reproduce.study import StudyPaths, cls_settings
from monai_ext.utils import atomic_path, file_sha256, write_csv, write_json

__all__ = ["collect_results", "write_report"]

EXPERIMENT = {"cxr": "original CXR", "lung": "segmented lung", "no_lung": "CXR without lung"}


def _fmt(entry: dict | None, pct: bool = True) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    scale = 100 if pct else 1
    low, high = entry.get("ci95", [None, None])
    value = f"{entry['value'] * scale:.1f}" if pct else f"{entry['value']:.3f}"
    if low is None:
        return value
    return f"{value} ({low * scale:.1f}-{high * scale:.1f})" if pct else f"{value} ({low:.3f}-{high:.3f})"


def _headline(report: dict) -> dict[str, dict]:
    """Accuracy, recall, precision, F1 (of the positive, last class when binary; macro otherwise), AUC."""
    names = report["class_names"]
    if len(names) == 2:
        pos = report["per_class"][names[-1]]
        f1 = {"value": pos["f1"], "ci95": pos["f1_ci95"]}
        recall, precision = pos["sensitivity"], pos["precision"]
    else:
        f1 = {"value": report["macro"]["f1"], "ci95": report["macro"]["f1_ci95"]}
        recall = {"value": report["macro"]["sensitivity"], "ci95": [None, None]}
        precision = {"value": report["macro"]["precision"], "ci95": [None, None]}
    return {"accuracy": report["accuracy"], "recall": recall, "precision": precision, "f1": f1, "auc": report["auc"]}


def _per_image(seg_eval: Path, metric: str) -> list[tuple[str, float]]:
    """``(image path, value)`` rows of MONAI's ``MetricsSaver`` file ``<metric>_raw.csv``, undefined values left out."""
    raw = seg_eval / f"{metric}_raw.csv"
    if not raw.is_file():
        return []
    rows = list(csv.reader(raw.open()))[1:]
    return [(r[0], float(r[1])) for r in rows if r and r[1] not in ("", "nan")]


def collect_results(paths: StudyPaths, backbones, modes) -> dict[str, Any]:
    """Read every run's metrics back into one structure (``results.json``)."""
    results: dict[str, Any] = {"classification": {}, "segmentation": {}}
    for backbone in backbones:
        for mode in modes:
            metrics_file = paths.cls(backbone, mode) / "eval" / "metrics.json"
            if metrics_file.is_file():
                metrics = json.loads(metrics_file.read_text())
                results["classification"][f"{backbone}/{mode}"] = {
                    "backbone": backbone,
                    "input_mode": mode,
                    "headline": _headline(metrics["overall"]),
                    "overall": metrics["overall"],
                    "per_source": metrics.get("per_source", {}),
                }
    summary_file = paths.seg / "eval" / "metrics_summary.json"
    if summary_file.is_file():
        seg = json.loads(summary_file.read_text())
        out = {"summary": seg}
        for name, key in (("dice", "val_mean_dice"), ("iou", "val_mean_iou")):
            values = np.array([value for _, value in _per_image(paths.seg / "eval", key)])
            if values.size:
                out[name] = bootstrap_mean(values)
        results["segmentation"] = out
    return results


def _table(results: dict[str, Any], backbones, modes) -> tuple[str, list[list[Any]]]:
    lines = [
        "| model | experiment | accuracy % | recall % | precision % | F1 % | ROC AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    flat = [["model", "experiment", "metric", "value", "ci95_low", "ci95_high"]]
    for backbone in backbones:
        for mode in modes:
            run = results["classification"].get(f"{backbone}/{mode}")
            if not run:
                continue
            h = run["headline"]
            lines.append(
                f"| {backbone} | {EXPERIMENT[mode]} | {_fmt(h['accuracy'])} | {_fmt(h['recall'])} | "
                f"{_fmt(h['precision'])} | {_fmt(h['f1'])} | {_fmt(h['auc'], pct=False)} |"
            )
            for metric, entry in h.items():
                low, high = entry.get("ci95", [None, None])
                flat.append([backbone, mode, metric, entry.get("value"), low, high])
    return "\n".join(lines), flat


def _shortcut_section(results: dict[str, Any], backbones) -> str:
    lines = []
    for backbone in backbones:
        lung = results["classification"].get(f"{backbone}/lung")
        no_lung = results["classification"].get(f"{backbone}/no_lung")
        if not lung or not no_lung:
            continue
        cm = np.array(no_lung["overall"]["confusion_matrix"])
        chance = cm.sum(axis=1).max() / cm.sum()  # always answering the largest class
        acc, auc = no_lung["headline"]["accuracy"], no_lung["headline"]["auc"]
        acc_low, auc_low = acc["ci95"][0], auc["ci95"][0]
        above = [
            f"accuracy's lower 95% bound {100 * acc_low:.1f}% > {100 * chance:.1f}% (majority class)"
            if acc_low is not None and acc_low > chance
            else "",
            f"ROC AUC's lower 95% bound {auc_low:.3f} > 0.5" if auc_low is not None and auc_low > 0.5 else "",
        ]
        above = [a for a in above if a]
        verdict = (
            f"**above chance** ({'; '.join(above)}): the classifier finds class signal outside the lungs. That is "
            "a shortcut (source, markers, positioning, age), and the `cxr` result cannot be taken as evidence of "
            "recognising lung disease."
            if above
            else f"not distinguishable from chance (accuracy vs {100 * chance:.1f}% majority class, AUC vs 0.5): "
            "no evidence of a shortcut outside the lungs."
        )
        lung_auc_low = lung["headline"]["auc"]["ci95"][0]
        if not above and (lung_auc_low is None or lung_auc_low <= 0.5):
            verdict += " But the lung run is not above chance either, so here the probe says nothing."
        lines.append(
            f"- {backbone}: lung {_fmt(lung['headline']['accuracy'])}, without lung {_fmt(acc)} "
            f"(AUC {_fmt(auc, pct=False)}); without lung is {verdict}"
        )
    return "\n".join(lines)


def _source_section(results: dict[str, Any]) -> str:
    lines = []
    for key, run in results["classification"].items():
        for source, report in run["per_source"].items():
            lines.append(
                f"| {key} | {source} | {report['n']} | {_fmt(report['accuracy'])} | {_fmt(report['auc'], pct=False)} |"
            )
    if not lines:
        return "No item carries a source."
    return "| run | source | n | accuracy % | ROC AUC |\n|---|---|---|---|---|\n" + "\n".join(lines)


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def _figures(paths: StudyPaths, results: dict[str, Any], backbones, modes, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    runs = results["classification"]
    # confusion matrices, all runs on one sheet
    fig, axes = plt.subplots(
        len(backbones), len(modes), figsize=(3.2 * len(modes), 3.0 * len(backbones)), squeeze=False
    )
    for i, backbone in enumerate(backbones):
        for j, mode in enumerate(modes):
            ax = axes[i][j]
            run = runs.get(f"{backbone}/{mode}")
            ax.set_title(f"{backbone} / {mode}", fontsize=9)
            if not run:
                ax.axis("off")
                continue
            cm = np.array(run["overall"]["confusion_matrix"])
            names = run["overall"]["class_names"]
            ax.imshow(cm, cmap="Blues")
            for (r, c), v in np.ndenumerate(cm):
                ax.text(c, r, str(v), ha="center", va="center", fontsize=9)
            ax.set_xticks(range(len(names)), names, fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set_xlabel("predicted", fontsize=8)
            ax.set_ylabel("true", fontsize=8)
    _save(fig, out / "confusion_matrices.png")
    plt.close(fig)
    written.append("confusion_matrices.png")
    # ROC curves of the positive (last) class from the per-image predictions
    fig, axes = plt.subplots(1, len(backbones), figsize=(4 * len(backbones), 3.8), squeeze=False)
    for i, backbone in enumerate(backbones):
        ax = axes[0][i]
        for mode in modes:
            pred_file = paths.cls(backbone, mode) / "eval" / "predictions.csv"
            if not pred_file.is_file():
                continue
            rows = list(csv.DictReader(pred_file.open()))
            names = [k[len("prob_") :] for k in rows[0] if k.startswith("prob_")]
            positive = np.array([r["true"] == names[-1] for r in rows])
            fpr, tpr = roc_curve(positive, np.array([float(r[f"prob_{names[-1]}"]) for r in rows]))
            auc = runs[f"{backbone}/{mode}"]["headline"]["auc"]["value"]
            ax.plot(fpr, tpr, label=f"{mode} (AUC {auc:.3f})" if auc is not None else mode)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(backbone, fontsize=10)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.legend(fontsize=8, loc="lower right")
    _save(fig, out / "roc_curves.png")
    plt.close(fig)
    written.append("roc_curves.png")
    # predicted lung masks over their images: best and worst Dice of the segmentation test split
    dice = sorted(_per_image(paths.seg / "eval", "val_mean_dice"), key=lambda r: r[1])
    if dice:
        picks = [("worst", r) for r in dice[:3]] + [("best", r) for r in dice[-3:][::-1]]
        fig, axes = plt.subplots(1, len(picks), figsize=(2.6 * len(picks), 2.9), squeeze=False)
        lookup = mask_lookup(paths.seg / "test_masks")
        for ax, (kind, (image_path, value)) in zip(axes[0], picks):
            image, _ = read_cxr(image_path)
            ax.imshow(image, cmap="gray")
            mask_path = mask_path_for(paths.seg / "test_masks", os.path.relpath(image_path, paths.qu_ex), lookup)
            if mask_path is not None and mask_path.is_file():
                mask, _ = read_cxr(mask_path)
                if mask.shape == image.shape:
                    ax.contour(mask > 0.5, levels=[0.5], colors="yellow", linewidths=0.8)
            ax.set_title(f"{kind}: Dice {value:.3f}", fontsize=8)
            ax.axis("off")
        _save(fig, out / "mask_gallery.png")
        plt.close(fig)
        written.append("mask_gallery.png")
    # training and validation curves from the TensorBoard logs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def scalars(folder: Path, tag: str) -> tuple[list[int], list[float]]:
        steps, values = [], []
        for events in sorted(folder.glob("events.out.tfevents.*")):
            acc = EventAccumulator(str(events))
            acc.Reload()
            if tag in acc.Tags().get("scalars", []):
                for e in acc.Scalars(tag):
                    steps.append(e.step)
                    values.append(e.value)
        return steps, values

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for tag, ax in (("train_loss", axes[0]), ("val_mean_dice", axes[1])):
        ax.plot(*scalars(paths.seg / "train", tag), label=tag)
        ax.set_title(f"segmentation: {tag}", fontsize=10)
        ax.set_xlabel("iteration" if tag == "train_loss" else "epoch")
    for key in runs:
        backbone, mode = key.split("/")
        steps, values = scalars(paths.cls(backbone, mode) / "train", "val_auc")
        axes[2].plot(steps, values, marker=".", label=key)
    axes[2].set_title("classification: validation ROC AUC", fontsize=10)
    axes[2].set_xlabel("epoch")
    axes[2].legend(fontsize=6)
    _save(fig, out / "training_curves.png")
    plt.close(fig)
    written.append("training_curves.png")
    return written


def _manifest(paths: StudyPaths, profile_name: str, profile: dict, times: dict[str, float]) -> dict[str, Any]:
    import monai
    import torch
    import torchvision

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    lists = sorted(paths.lists.glob("*.json"))
    return {
        "profile": profile_name,
        "settings": profile,
        "seeds": {"study": profile["seed"], "synthetic": (profile.get("synthetic") or {}).get("seed")},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "monai": monai.__version__,
            "numpy": np.__version__,
        },
        "git_commit": git("rev-parse", "HEAD")
        + (" (with uncommitted changes)" if git("status", "--porcelain") else ""),
        "device": device,
        "data": {"qu_ex": str(paths.qu_ex), "covidx": str(paths.covidx)},
        "data_list_sha256": {p.name: file_sha256(p) for p in lists},
        "wall_time_s": {k: round(v, 1) for k, v in times.items()},
        "wall_time_total_s": round(sum(times.values()), 1),
    }


def _settings_section(profile: dict, backbones) -> str:
    """One line per trained model: what it was given (image size, epochs, learning rate, ImageNet weights)."""

    def line(name: str, settings: dict) -> str:
        return (
            f"- {name}: {settings['image_size']} px, up to {settings['max_epochs']} epochs, batch "
            f"{settings['batch_size']}, learning rate {settings['learning_rate']:g}, "
            f"{'ImageNet' if settings['pretrained'] else 'random'} initial weights"
        )

    lines = [line("FPN-DenseNet121", profile["seg"])]
    for backbone in backbones:
        lines.append(line(backbone, cls_settings(profile, backbone)))
    return "\n".join(lines)


def write_report(
    paths: StudyPaths, profile_name: str, profile: dict, times: dict[str, float], backbones, modes
) -> Path:
    """Write ``summary.md``, ``results.csv``, ``results.json``, ``manifest.json`` and the figures under the run folder."""
    results = collect_results(paths, backbones, modes)
    table, flat = _table(results, backbones, modes)
    figures = _figures(paths, results, backbones, modes, paths.run_dir / "figures")
    manifest = _manifest(paths, profile_name, profile, times)
    seg = results.get("segmentation", {})
    seg_line = "not evaluated"
    if seg.get("dice"):
        hd = seg["summary"]["per_image"].get("val_hd95", {})
        hd_text = f"{hd['median']:.1f} px" if hd.get("median") is not None else "undefined (empty masks)"
        seg_line = (
            f"mean Dice {_fmt(seg['dice'], pct=False)}, mean IoU {_fmt(seg['iou'], pct=False)}, "
            f"HD95 median {hd_text} (n = {seg['dice']['n']} test images, "
            f"95% bootstrap intervals, at the network's input size)"
        )
        for name in ("dice", "iou"):
            flat.append(["FPN-DenseNet121", "segmentation", name, seg[name]["value"], *seg[name]["ci95"]])
    write_csv(flat[1:], paths.run_dir / "results.csv", flat[0])
    write_json(results, paths.run_dir / "results.json")
    write_json(manifest, paths.run_dir / "manifest.json")
    text = f"""# Study report: {profile_name}

Two stages, as the published study: FPN-DenseNet121 lung segmentation, then COVID-19 classification
on the original CXR, the segmented lung (image x mask) and the CXR without lung (image x inverted mask).
Test split only; validation (patient-grouped) chose every checkpoint. Figures are percentages with
95% intervals: Wilson for accuracy, recall and precision; bootstrap for F1 and ROC AUC. Recall,
precision and F1 are of the positive class.

## Settings

{_settings_section(profile, backbones)}

## Classification (test split)

{table}

## Segmentation (test split)

{seg_line}

## `lung` against `no_lung`: a probe for shortcuts outside the lungs

A classifier shown the radiograph **without its lungs** should be at chance if it reads lung disease.

{_shortcut_section(results, backbones) or "Needs both the lung and no_lung runs."}

## Per source

{_source_section(results)}

## Figures

{chr(10).join(f"- [{f}](figures/{f})" for f in figures)}

## Manifest

- device: {manifest["device"]}; versions: {", ".join(f"{k} {v}" for k, v in manifest["versions"].items())}
- git commit: {manifest["git_commit"]}
- seeds: {manifest["seeds"]}
- data lists (sha256): {", ".join(f"{k} {v[:12]}" for k, v in manifest["data_list_sha256"].items())}
- wall time: {manifest["wall_time_total_s"]:.0f} s in all; per step in `manifest.json`
"""
    with atomic_path(paths.run_dir / "summary.md") as tmp:
        tmp.write_text(text)
    return paths.run_dir / "summary.md"
