"""Classification figures with their 95% intervals: Wilson for proportions, bootstrap for AUC and F1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.metrics import compute_roc_auc

from monai_ext.constants import positive_index
from monai_ext.metrics.intervals import bootstrap_indices, percentile_interval

__all__ = [
    "classification_report",
    "confusion_matrix",
    "decision_report",
    "gate_report",
    "roc_auc",
    "roc_curve",
    "wilson_interval",
]

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of the proportion ``k / n``; ``(None, None)`` when ``n == 0``."""
    if n == 0:
        return None, None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve by MONAI's :func:`monai.metrics.compute_roc_auc` (the figure training's
    ``ROCAUC`` validation metric reports; ties count half); None when one class is absent."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return None
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float64))
    return float(compute_roc_auc(scores, torch.as_tensor(positive.astype(np.int64))))


def roc_curve(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-np.asarray(scores), kind="stable")
    sorted_scores, sorted_pos = np.asarray(scores)[order], positive[order]
    last_of_tie = np.r_[np.diff(sorted_scores) != 0, True]
    tps = np.cumsum(sorted_pos)[last_of_tie]
    fps = np.cumsum(~sorted_pos)[last_of_tie]
    tpr = np.r_[0.0, tps / max(1, positive.sum())]
    fpr = np.r_[0.0, fps / max(1, (~positive).sum())]
    return fpr, tpr


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]``: items of true class ``i`` predicted as ``j``."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def _proportion(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(k, n)
    return {"value": k / n if n else None, "ci95": [low, high], "k": int(k), "n": int(n)}


def _f1(cm: np.ndarray, c: int) -> float | None:
    tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
    return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else None


def _auc_summary(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary: AUC of the last (positive) class. Several classes: macro one-vs-rest AUC."""
    n_classes = probs.shape[1]
    if n_classes == 2:
        pos = positive_index(n_classes)
        return roc_auc(y_true == pos, probs[:, pos])
    aucs = [roc_auc(y_true == c, probs[:, c]) for c in range(n_classes)]
    return None if any(a is None for a in aucs) else float(np.mean(aucs))


def _macro_f1(cm: np.ndarray) -> float | None:
    f1s = [_f1(cm, c) for c in range(cm.shape[0])]
    return float(np.mean([f or 0.0 for f in f1s]))


def classification_report(
    y_true: Sequence[int], probs: np.ndarray, class_names: Sequence[str], n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Every figure of one split: accuracy; per-class sensitivity (recall), specificity, precision and
    F1; their macro and support-weighted averages; ROC AUC; the confusion matrix.

    Proportions carry 95% Wilson intervals; AUC and F1 carry 95% percentile bootstrap intervals
    (``n_bootstrap`` resamples of the items, fixed ``seed``). The predicted class is the argmax.
    """
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    n, n_classes = probs.shape
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, n_classes)
    per_class: dict[str, Any] = {}
    for c, name in enumerate(class_names):
        tp = int(cm[c, c])
        fn = int(cm[c, :].sum()) - tp
        fp = int(cm[:, c].sum()) - tp
        tn = n - tp - fn - fp
        per_class[name] = {
            "support": tp + fn,
            "sensitivity": _proportion(tp, tp + fn),
            "specificity": _proportion(tn, tn + fp),
            "precision": _proportion(tp, tp + fp),
            "f1": _f1(cm, c),
            "auc": roc_auc(y_true == c, probs[:, c]),
        }
    support = np.array([per_class[name]["support"] for name in class_names], dtype=float)

    def average(metric: str, weights: np.ndarray | None) -> float | None:
        values = [per_class[name][metric] for name in class_names]
        values = [v["value"] if isinstance(v, dict) else v for v in values]
        if any(v is None for v in values):
            return None
        return float(np.average(values, weights=weights))

    boot_auc, boot_f1, boot_class_f1 = [], [], []
    for idx in bootstrap_indices(n, n_bootstrap, seed):
        auc = _auc_summary(y_true[idx], probs[idx])
        if auc is not None:
            boot_auc.append(auc)
        boot_cm = confusion_matrix(y_true[idx], y_pred[idx], n_classes)
        boot_f1.append(_macro_f1(boot_cm))
        boot_class_f1.append([_f1(boot_cm, c) for c in range(n_classes)])

    report = {
        "n": int(n),
        "class_names": list(class_names),
        "accuracy": _proportion(int(np.trace(cm)), n),
        "auc": {"value": _auc_summary(y_true, probs), "ci95": percentile_interval(boot_auc), "bootstrap": n_bootstrap},
        "per_class": per_class,
        "macro": {m: average(m, None) for m in ("sensitivity", "specificity", "precision", "f1")},
        "weighted": {m: average(m, support) for m in ("sensitivity", "specificity", "precision", "f1")},
        "confusion_matrix": cm.tolist(),
    }
    report["macro"]["f1_ci95"] = percentile_interval(boot_f1)
    for c, name in enumerate(class_names):
        values = [b[c] for b in boot_class_f1 if b[c] is not None]
        per_class[name]["f1_ci95"] = percentile_interval(values)
    return report


def decision_report(positive: Sequence[bool], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    """Accuracy, sensitivity and specificity (Wilson 95% intervals) of calling an image positive when its
    positive-class probability is at least ``threshold``."""
    positive, scores = np.asarray(positive, dtype=bool), np.asarray(scores, dtype=np.float64)
    called = scores >= threshold
    tp, tn = int((called & positive).sum()), int((~called & ~positive).sum())
    return {
        "threshold": float(threshold),
        "accuracy": _proportion(tp + tn, len(positive)),
        "sensitivity": _proportion(tp, int(positive.sum())),
        "specificity": _proportion(tn, int((~positive).sum())),
    }


def gate_report(
    y: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    decided: np.ndarray,
    abstained: np.ndarray,
    n_bootstrap: int = 1000,
) -> dict[str, Any]:
    """What the input gate did to a labelled split: the abstention rate (Wilson 95% interval), the accuracy of
    the decisions on the images answered on (``answered_accuracy``) and all their figures (``answered``:
    :func:`classification_report`, at the argmax), and the decisions counting an abstention as an error
    (``abstain_as_error``: accuracy and, binary, sensitivity and specificity).

    Args:
        y: class indices ``(N,)``; probs: probabilities ``(N, C)``.
        decided: the decided class index per image ``(N,)`` (at the operating threshold, else the argmax).
        abstained: whether the gate abstained on each image ``(N,)``.
    """
    y, abstained, decided = np.asarray(y, int), np.asarray(abstained, bool), np.asarray(decided, int)
    answered = ~abstained
    right = (decided == y) & answered
    out: dict[str, Any] = {
        "abstention_rate": _proportion(int(abstained.sum()), len(y)),
        "answered_accuracy": _proportion(int(right.sum()), int(answered.sum())),
        "answered": (
            classification_report(y[answered], probs[answered], class_names, n_bootstrap)
            if answered.sum() > 1
            else None
        ),
        "abstain_as_error": {"accuracy": _proportion(int(right.sum()), len(y))},
    }
    if len(class_names) == 2:
        positive = y == 1
        out["abstain_as_error"]["sensitivity"] = _proportion(int((right & positive).sum()), int(positive.sum()))
        out["abstain_as_error"]["specificity"] = _proportion(int((right & ~positive).sum()), int((~positive).sum()))
    return out
