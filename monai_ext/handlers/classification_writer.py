"""Collecting per-image class probabilities from an evaluator; writing predictions and metrics."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine

from monai_ext.constants import METRICS_CSV_FILE, METRICS_FILE, PREDICTIONS_FILE, Keys, positive_index
from monai_ext.gate.gate import ABSTAIN
from monai_ext.handlers.outputs import RowWriter, item_field, item_label, item_name
from monai_ext.metrics.calibration import (
    brier_score,
    decision,
    ece_interval,
    expected_calibration_error,
    operating_threshold,
    reliability_curve,
    uncalibrated,
)
from monai_ext.metrics.classification import classification_report, decision_report, gate_report
from monai_ext.utils import CSVRows, write_csv, write_json

__all__ = ["PROB_PREFIX", "ClassificationWriter", "flatten_report", "prob_column"]

#: what a class's probability column in :data:`PREDICTIONS_FILE` starts with
PROB_PREFIX = "prob_"


def prob_column(class_name: str) -> str:
    """The :data:`PREDICTIONS_FILE` column of ``class_name``'s probability."""
    return f"{PROB_PREFIX}{class_name}"


def _labelled(dataset: Any) -> bool:
    """Whether every item of an engine's dataset (a MONAI ``Dataset``'s ``data``) has a class label."""
    data = getattr(dataset, "data", None)
    return bool(data) and all(isinstance(d, dict) and Keys.LABEL in d for d in data)


class ClassificationWriter(RowWriter):
    """Write ``predictions.csv`` (a row per image: name, patient, source, the probability of each
    class, the predicted class and, when known, the true one) and, when labels are present and
    ``with_metrics`` is set, ``metrics.json`` and ``metrics.csv`` with every figure and its 95%
    interval, overall and per source. ``fields`` adds columns read per item (e.g. ``mask_source``,
    ``mask_flags``: where the lung mask came from and the plausibility checks it failed).

    With a model's calibration (``temperature``, ``threshold``: ``models/calibration.json``), the
    probabilities in ``pred`` are the calibrated ones, ``predictions.csv`` adds ``decision`` (the class
    at the saved threshold of a binary model's positive, last class) and ``metrics.json`` adds
    ``at_threshold`` (accuracy, sensitivity, specificity at it, beside the argmax/0.5 figures) and
    ``calibration`` (Brier score and expected calibration error of the probabilities before and after
    temperature scaling, the reliability curve).

    The engine's postprocessing must leave class probabilities (softmax) in ``pred``; the batch
    items' ``name``, ``patient_id``, ``source`` and ``label`` are read from the decollated batch.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        class_names: list[str],
        with_metrics: bool = True,
        n_bootstrap: int = 1000,
        fields: Sequence[str] = (),
        temperature: float = 1.0,
        threshold: float | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.temperature = float(temperature)
        self.threshold = operating_threshold(threshold, class_names)
        self.class_names = list(class_names)
        self.with_metrics = with_metrics
        self.n_bootstrap = n_bootstrap
        self.fields = list(fields)
        self.file: CSVRows | None = None
        self._labelled_run = False
        super().__init__()

    def start(self, engine: Engine) -> None:
        """Replace ``predictions.csv`` by its header: an earlier run's rows never outlive this run's start."""
        super().start(engine)
        self._labelled_run = _labelled(getattr(getattr(engine, "data_loader", None), "dataset", None))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.file = CSVRows(self.output_dir / PREDICTIONS_FILE, self._header(self._labelled_run))
        self.file.start()

    def collect(self, engine: Engine) -> None:
        outputs, batch = engine.state.output, engine.state.batch
        for out, item in zip(outputs, batch):
            probs = torch.as_tensor(out[Keys.PRED]).detach().float().cpu().flatten().numpy()
            row = {
                Keys.NAME: item_name(item),
                Keys.PATIENT_ID: item.get(Keys.PATIENT_ID, ""),
                Keys.SOURCE: item.get(Keys.SOURCE, ""),
                "probs": probs,
            }
            row.update({name: item_field(item, out, name) for name in self.fields})
            if (label := item_label(item)) is not None:
                row[Keys.LABEL] = label
            self.rows.append(row)
            if self.file is not None:  # appended and flushed as each image is done
                self.file.append(self._line(row, self._labelled_run))

    @property
    def _decides(self) -> bool:
        """Whether rows have a ``decision``: the class at the saved threshold, or the gate's ``abstain``."""
        return self.threshold is not None or "gate" in self.fields

    def _decision(self, r: dict[str, Any]) -> str:
        if r.get("gate") == ABSTAIN:
            return ABSTAIN
        chosen = decision(r["probs"], self.class_names, self.threshold)
        return chosen if chosen is not None else self.class_names[int(np.argmax(r["probs"]))]

    def _header(self, labelled: bool) -> list[str]:
        header = [Keys.NAME, Keys.PATIENT_ID, Keys.SOURCE, *[prob_column(c) for c in self.class_names], "predicted"]
        if self._decides:
            header.append("decision")
        if labelled:
            header.append("true")
        return header + self.fields

    def _line(self, r: dict[str, Any], labelled: bool) -> list[Any]:
        line = [r[Keys.NAME], r[Keys.PATIENT_ID], r[Keys.SOURCE], *[f"{p:.6f}" for p in r["probs"]]]
        line.append(self.class_names[int(np.argmax(r["probs"]))])
        if self._decides:
            line.append(self._decision(r))
        if labelled:
            line.append(self.class_names[r[Keys.LABEL]] if Keys.LABEL in r else "")
        return line + [r[name] for name in self.fields]

    def write(self, engine: Engine | None = None) -> None:
        """The complete ``predictions.csv`` (and the metrics, when labelled), once the run is done."""
        if self.file is not None:
            self.file.close()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        labelled = bool(self.rows) and all(Keys.LABEL in r for r in self.rows)
        lines = [self._line(r, labelled) for r in self.rows]
        write_csv(lines, self.output_dir / PREDICTIONS_FILE, self._header(labelled))
        if labelled and self.with_metrics:
            self.write_metrics()

    def write_metrics(self) -> dict[str, Any]:
        y = np.array([r[Keys.LABEL] for r in self.rows])
        probs = np.stack([r["probs"] for r in self.rows])
        sources = np.array([r[Keys.SOURCE] for r in self.rows])
        result = {"overall": classification_report(y, probs, self.class_names, self.n_bootstrap)}
        if self.threshold is not None:
            positive = positive_index(self.class_names)  # as in the decision column
            result["overall"]["at_threshold"] = decision_report(y == positive, probs[:, positive], self.threshold)
        gates = {r.get("gate") for r in self.rows}
        result["overall"]["gate"] = "off" if gates <= {"off", None, ""} else "on"
        if result["overall"]["gate"] == "on":
            decided = np.array(
                [self.class_names.index(d) if (d := self._decision({**r, "gate": ""})) in self.class_names else -1
                 for r in self.rows]
            )  # fmt: skip
            abstained = np.array([r.get("gate") == ABSTAIN for r in self.rows])
            result["overall"]["gating"] = gate_report(y, probs, self.class_names, decided, abstained, self.n_bootstrap)
        raw = uncalibrated(probs, self.temperature)
        result["overall"]["calibration"] = {
            "temperature": self.temperature,
            "brier": brier_score(probs, y),
            "ece": expected_calibration_error(probs, y),
            "ece_ci95": ece_interval(probs, y, self.n_bootstrap),
            "brier_uncalibrated": brier_score(raw, y),
            "ece_uncalibrated": expected_calibration_error(raw, y),
            "reliability": reliability_curve(probs, y),
            "reliability_uncalibrated": reliability_curve(raw, y),
        }
        if any(sources):
            result["per_source"] = {
                str(s): classification_report(y[sources == s], probs[sources == s], self.class_names, self.n_bootstrap)
                for s in sorted(set(sources))
            }
        write_json(result, self.output_dir / METRICS_FILE)
        scopes = {"overall": result["overall"], **{f"source={s}": r for s, r in result.get("per_source", {}).items()}}
        rows = [[scope, *row] for scope, report in scopes.items() for row in flatten_report(report)]
        write_csv(
            rows,
            self.output_dir / METRICS_CSV_FILE,
            ["scope", "class", "metric", "value", "ci95_low", "ci95_high", "k", "n"],
        )
        return result


def flatten_report(report: dict[str, Any]) -> list[list[Any]]:
    """Rows ``[class, metric, value, ci_low, ci_high, k, n]`` of a :func:`classification_report`."""

    def row(cls: str, metric: str, entry: Any) -> list[Any]:
        if isinstance(entry, dict):
            low, high = entry.get("ci95", [None, None])
            return [cls, metric, entry.get("value"), low, high, entry.get("k", ""), entry.get("n", "")]
        return [cls, metric, entry, "", "", "", ""]

    rows = [row("all", "accuracy", report["accuracy"]), row("all", "auc", report["auc"])]
    for cls, figures in report["per_class"].items():
        rows += [row(cls, m, figures[m]) for m in ("sensitivity", "specificity", "precision", "f1", "auc")]
    for avg in ("macro", "weighted"):
        for m in ("sensitivity", "specificity", "precision", "f1"):
            entry = report[avg][m]
            if avg == "macro" and m == "f1":  # macro F1 carries its bootstrap interval
                entry = {"value": entry, "ci95": report["macro"]["f1_ci95"]}
            rows.append(row(avg, m, entry))
    if "at_threshold" in report:  # the decision at the model's saved operating threshold
        rows += [row("at_threshold", m, report["at_threshold"][m]) for m in ("accuracy", "sensitivity", "specificity")]
    if report.get("gating"):  # what the input gate did: abstentions, the answered images, abstentions as errors
        gating = report["gating"]
        rows.append(row("gate", "abstention_rate", gating["abstention_rate"]))
        rows.append(row("gate_answered", "decision_accuracy", gating["answered_accuracy"]))
        if gating["answered"] is not None:
            rows += [row("gate_answered", "accuracy", gating["answered"]["accuracy"])]
            rows += [row("gate_answered", "auc", gating["answered"]["auc"])]
        rows += [row("gate_abstain_as_error", m, v) for m, v in gating["abstain_as_error"].items()]
    if "calibration" in report:
        calibration = report["calibration"]
        figures = ("brier", "ece", "brier_uncalibrated", "ece_uncalibrated")
        rows += [
            row(
                "calibration",
                m,
                {"value": calibration[m], "ci95": calibration["ece_ci95"]} if m == "ece" else calibration[m],
            )
            for m in figures
        ]
    return rows
