"""Reading the study's runs back: every classification run's metrics and the segmentation summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.constants import (
    CALIBRATION_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    METRICS_SUMMARY_FILE,
    PREDICTIONS_FILE,
    PRIOR_SHIFT_FILE,
    PRIOR_SHIFT_PREDICTIONS_FILE,
    SALIENCY_SUMMARY_FILE,
    positive_index,
)
from monai_ext.data import ManifestStatus
from monai_ext.gate import ABSTAIN
from monai_ext.metrics.classification import wilson_interval
from monai_ext.metrics.intervals import bootstrap_mean
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.synthetic.hospitals import HOSPITALS_FILE
from monai_ext.utils import read_csv

__all__ = ["collect_results", "gate_results", "headline", "in_and_out_of_source", "per_image", "site_recalibration"]


def headline(report: dict) -> dict[str, dict]:
    """Accuracy, recall, precision, F1 (of the positive, last class when binary; macro otherwise), AUC."""
    names = report["class_names"]
    if len(names) == 2:
        pos = report["per_class"][names[positive_index(names)]]
        f1 = {"value": pos["f1"], "ci95": pos["f1_ci95"]}
        recall, precision = pos["sensitivity"], pos["precision"]
    else:
        f1 = {"value": report["macro"]["f1"], "ci95": report["macro"]["f1_ci95"]}
        recall = {"value": report["macro"]["sensitivity"], "ci95": [None, None]}
        precision = {"value": report["macro"]["precision"], "ci95": [None, None]}
    return {"accuracy": report["accuracy"], "recall": recall, "precision": precision, "f1": f1, "auc": report["auc"]}


def per_image(seg_eval: Path, metric: str) -> list[tuple[str, float]]:
    """``(image path, value)`` rows of MONAI's ``MetricsSaver`` file ``<metric>_raw.csv``, undefined values left out."""
    raw = seg_eval / f"{metric}_raw.csv"
    if not raw.is_file():
        return []
    rows = list(csv.reader(raw.open()))[1:]
    return [(r[0], float(r[1])) for r in rows if r and r[1] not in ("", "nan")]


def in_and_out_of_source(experiment: Path) -> dict[str, dict[str, Any]]:
    """Per classifier of a cross-source experiment (``<experiment>/cls/<backbone>_<mode>``): its headline
    figures, ``n`` and saliency summary ``in_source`` (``eval_in_source``: held-out patients of the training
    sources) and ``out_of_source`` (``eval``: the held-out sources)."""
    out: dict[str, dict[str, Any]] = {}
    for run in sorted(experiment.glob("cls/*_*")):
        figures = {}
        for name, folder in (("in_source", "eval_in_source"), ("out_of_source", "eval")):
            metrics_file, saliency = run / folder / METRICS_FILE, run / folder / SALIENCY_SUMMARY_FILE
            if metrics_file.is_file():
                overall = json.loads(metrics_file.read_text())["overall"]
                figures[name] = {"headline": headline(overall), "n": overall["n"]}
                if saliency.is_file():
                    figures[name]["saliency"] = json.loads(saliency.read_text())["overall"]
        if set(figures) == {"in_source", "out_of_source"}:
            out[run.name] = figures
    return out


def gate_results(run: Path, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """What the input gate did for one classifier: on the test split (``gating`` of its evaluation: the
    abstention rate, the answered images' figures, abstentions counted as errors) and on the images that
    are not chest radiographs (``run/gate``: abstained on, overall and per set, an image the reader
    refused counting as abstained on); None when the run had no gate."""
    out: dict[str, Any] = {"test": metrics["overall"].get("gating")}
    manifest = run / "gate" / MANIFEST_FILE
    if manifest.is_file():
        decisions = {r["input"]: ABSTAIN if r["status"] == ManifestStatus.SKIPPED else "" for r in read_csv(manifest)}
        if (run / "gate" / PREDICTIONS_FILE).is_file():
            decisions |= {r["name"]: r["decision"] for r in read_csv(run / "gate" / PREDICTIONS_FILE)}
        sets: dict[str, list[bool]] = {}
        for name, decision in decisions.items():
            sets.setdefault(name.split("/")[0], []).append(decision == ABSTAIN)
        out["not_chest"] = {
            name: _share(sum(v), len(v)) for name, v in [("all", [x for v in sets.values() for x in v]), *sets.items()]
        }
    return out if out["test"] or out.get("not_chest") else None


def _share(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(k, n)
    return {"value": k / n if n else None, "ci95": [low, high], "k": k, "n": n}


def _positive_share(labelled: Path, used: Path, class_names: list[str]) -> dict[str, Any]:
    """The share of the positive class among the images of ``used`` (a prior shift's per-image file), by
    their labels (``true`` in the evaluation's ``labelled`` predictions of the same images)."""
    names = {r["name"] for r in read_csv(used)}
    rows = [r for r in read_csv(labelled) if r["name"] in names]
    positive = class_names[positive_index(class_names)]
    return _share(sum(r["true"] == positive for r in rows), len(rows))


def site_recalibration(experiment: Path) -> dict[str, dict[str, Any]]:
    """Per classifier of the two-hospital experiment recalibrated at the second hospital: its figures on the
    site's judged images before (``eval_site_before``) and after (``eval_site_after``): the expected
    calibration error, and the accuracy, sensitivity and specificity at the operating threshold."""
    out = {}
    for run in sorted(experiment.glob("cls/*_*")):
        figures = {}
        for name in ("before", "after"):
            metrics = run / f"eval_site_{name}" / METRICS_FILE
            if metrics.is_file():
                overall = json.loads(metrics.read_text())["overall"]
                calibration = overall["calibration"]
                figures[name] = {
                    "ece": {"value": calibration["ece"], "ci95": calibration.get("ece_ci95", [None, None])},
                    "at_threshold": overall.get("at_threshold"),
                    "n": overall["n"],
                }
        site = run / "models_site" / CALIBRATION_FILE
        if len(figures) == 2 and site.is_file():
            figures["calibration"] = json.loads(site.read_text())
            prior = run / "prior_site" / PRIOR_SHIFT_FILE
            if prior.is_file():
                figures["prior_shift"] = json.loads(prior.read_text())
                figures["prior_shift"]["true_positive_share"] = _positive_share(
                    run / "eval_site_before" / PREDICTIONS_FILE,
                    run / "prior_site" / PRIOR_SHIFT_PREDICTIONS_FILE,
                    list(figures["prior_shift"]["site_prior"]),
                )
            out[run.name] = figures
    return out


def collect_results(paths: StudyPaths, backbones, modes) -> dict[str, Any]:
    """Read every run's metrics back into one structure (``results.json``)."""
    results: dict[str, Any] = {"classification": {}, "segmentation": {}}
    for backbone in backbones:
        for mode in modes:
            metrics_file = paths.cls(backbone, mode) / "eval" / METRICS_FILE
            if metrics_file.is_file():
                metrics = json.loads(metrics_file.read_text())
                calibration = paths.cls(backbone, mode) / "models" / CALIBRATION_FILE
                saliency = paths.cls(backbone, mode) / "eval" / SALIENCY_SUMMARY_FILE
                results["classification"][f"{backbone}/{mode}"] = {
                    "backbone": backbone,
                    "input_mode": mode,
                    "headline": headline(metrics["overall"]),
                    "overall": metrics["overall"],
                    "per_source": metrics.get("per_source", {}),
                    "calibration": json.loads(calibration.read_text()) if calibration.is_file() else None,
                    "saliency": json.loads(saliency.read_text()) if saliency.is_file() else None,
                    "gate": gate_results(paths.cls(backbone, mode), metrics),
                }
    shortcut = in_and_out_of_source(paths.shortcut)
    hospitals = paths.shortcut_data / HOSPITALS_FILE
    if shortcut and hospitals.is_file():
        results["shortcut"] = {"hospitals": json.loads(hospitals.read_text()), "runs": shortcut}
        if recalibrated := site_recalibration(paths.shortcut):
            results["shortcut"]["recalibration"] = recalibrated
    held = in_and_out_of_source(paths.run_dir)  # the main runs, when the study held sources out
    if held:
        results["held_out_sources"] = held
    loso = {d.name: runs for d in sorted(paths.run_dir.glob("loso/*")) if (runs := in_and_out_of_source(d))}
    if loso:
        results["leave_one_source_out"] = loso
    summary_file = paths.seg / "eval" / METRICS_SUMMARY_FILE
    if summary_file.is_file():
        seg = json.loads(summary_file.read_text())
        out = {"summary": seg}
        for name, key in (("dice", "val_mean_dice"), ("iou", "val_mean_iou")):
            values = np.array([value for _, value in per_image(paths.seg / "eval", key)])
            if values.size:
                out[name] = bootstrap_mean(values)
        results["segmentation"] = out
    return results
