"""The study's figures: confusion matrices, ROC curves, reliability diagrams, Grad-CAM overlays, the lung-mask
gallery, training curves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.constants import PREDICTIONS_FILE, SALIENCY_FILE, positive_index
from monai_ext.data.image_reader import read_cxr
from monai_ext.data.inputs import mask_lookup, mask_path_for
from monai_ext.handlers.classification_writer import PROB_PREFIX, prob_column
from monai_ext.metrics.classification import roc_curve
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.results import per_image
from monai_ext.utils import atomic_path, read_csv

__all__ = ["draw_figures"]


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def _saliency_picks(paths: StudyPaths, backbones, modes, per_class: int = 2) -> list[tuple[str, str]]:
    """``(name, true class)`` of the test images the saliency grid shows: the first ``per_class`` of each
    true class (by name) in the first run's predictions that has saliency maps."""
    for backbone in backbones:
        for mode in modes:
            folder = paths.cls(backbone, mode) / "eval"
            if (folder / SALIENCY_FILE).is_file() and (folder / PREDICTIONS_FILE).is_file():
                rows = sorted(read_csv(folder / PREDICTIONS_FILE), key=lambda r: r["name"])
                classes = sorted({r.get("true", "") for r in rows})
                return [
                    (r["name"], c) for c in classes for r in [r for r in rows if r.get("true", "") == c][:per_class]
                ]
    return []


def draw_figures(paths: StudyPaths, results: dict[str, Any], backbones, modes, out: Path) -> list[str]:
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
            pred_file = paths.cls(backbone, mode) / "eval" / PREDICTIONS_FILE
            if not pred_file.is_file():
                continue
            rows = read_csv(pred_file)
            names = [k.removeprefix(PROB_PREFIX) for k in rows[0] if k.startswith(PROB_PREFIX)]
            pos = names[positive_index(names)]
            positive = np.array([r["true"] == pos for r in rows])
            fpr, tpr = roc_curve(positive, np.array([float(r[prob_column(pos)]) for r in rows]))
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
    # reliability diagrams: test accuracy against confidence, before and after temperature scaling
    fig, axes = plt.subplots(
        len(backbones), len(modes), figsize=(3.0 * len(modes), 3.0 * len(backbones)), squeeze=False
    )
    for i, backbone in enumerate(backbones):
        for j, mode in enumerate(modes):
            ax, run = axes[i][j], runs.get(f"{backbone}/{mode}")
            ax.set_title(f"{backbone} / {mode}", fontsize=9)
            calibration = (run or {}).get("overall", {}).get("calibration")
            if not calibration:
                ax.axis("off")
                continue
            for key, label, style in (
                ("reliability_uncalibrated", "before", "o:"),
                ("reliability", f"after (T {calibration['temperature']:.2f})", "o-"),
            ):
                bins = calibration.get(key, [])
                ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style, ms=3, label=label)
            ax.plot([0.5, 1], [0.5, 1], "k", lw=0.6)
            ax.set_xlim(0.45, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("confidence", fontsize=8)
            ax.set_ylabel("accuracy", fontsize=8)
            ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    _save(fig, out / "reliability.png")
    plt.close(fig)
    written.append("reliability.png")
    # Grad-CAM overlays of the same test images for every run
    picks = _saliency_picks(paths, backbones, modes)
    if picks:
        rows = [(b, m) for b in backbones for m in modes if (paths.cls(b, m) / "eval" / SALIENCY_FILE).is_file()]
        fig, axes = plt.subplots(len(rows), len(picks), figsize=(1.9 * len(picks), 2.0 * len(rows)), squeeze=False)
        for i, (backbone, mode) in enumerate(rows):
            maps = {r["name"]: r for r in read_csv(paths.cls(backbone, mode) / "eval" / SALIENCY_FILE)}
            for j, (name, truth) in enumerate(picks):
                ax, row = axes[i][j], maps.get(name)
                ax.axis("off")
                if row and row["map"]:
                    ax.imshow(plt.imread(paths.cls(backbone, mode) / "eval" / row["map"]))
                    share = f", {100 * float(row['in_lung']):.0f}% lung" if row["in_lung"] else ""
                    ax.set_title(f"{truth} -> {row['explained']}{share}", fontsize=6)
                if j == 0:
                    ax.text(
                        -0.08, 0.5, f"{backbone}\n{mode}", transform=ax.transAxes, ha="right", va="center", fontsize=8
                    )
        fig.suptitle("Grad-CAM of the predicted class: true -> explained, share in the lungs", fontsize=8)
        fig.tight_layout()
        _save(fig, out / "saliency_grid.png")
        plt.close(fig)
        written.append("saliency_grid.png")
    # predicted lung masks over their images: best and worst Dice of the segmentation test split
    dice = sorted(per_image(paths.seg / "eval", "val_mean_dice"), key=lambda r: r[1])
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
