"""What a probability means and where to put the threshold: temperature scaling, operating thresholds,
the calibration figures (Brier score, expected calibration error, reliability curve), and a new site's
class prior from its unlabelled images (Saerens et al. 2002).

All functions take plain arrays: ``probs`` ``(N, C)`` rows summing to 1, ``labels`` ``(N,)`` class
indices, ``logits`` ``(N, C)``; a binary model's positive class is its last class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from monai_ext.constants import positive_index
from monai_ext.metrics.classification import classification_report, decision_report
from monai_ext.metrics.intervals import bootstrap_indices, percentile_interval

__all__ = [
    "adjust_to_prior",
    "brier_score",
    "decision",
    "ece_interval",
    "em_prior",
    "expected_calibration_error",
    "fit_calibration",
    "fit_temperature",
    "operating_threshold",
    "reliability_curve",
    "threshold_for_sensitivity",
    "uncalibrated",
    "youden_threshold",
]

#: temperatures searched by :func:`fit_temperature` (log-uniform bounds)
TEMPERATURE_RANGE = (0.05, 20.0)


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature ``T`` minimising the cross-entropy of ``softmax(logits / T)`` (Guo et al. 2017),
    searched over :data:`TEMPERATURE_RANGE`. ``T > 1`` softens an over-confident model; the ranking and
    the argmax are unchanged."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=int)
    if logits.ndim != 2 or len(logits) != len(labels) or len(labels) == 0:
        raise ValueError(f"logits (N, C) and N labels expected, got {logits.shape} and {labels.shape}")
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, labels].mean())

    low, high = np.log(TEMPERATURE_RANGE)
    return float(np.exp(minimize_scalar(nll, bounds=(low, high), method="bounded").x))


def operating_threshold(threshold: float | None, class_names: Sequence[str]) -> float | None:
    """The saved threshold of a binary model's positive (last) class; None for other models or without one."""
    return threshold if len(class_names) == 2 else None


def decision(probs: Sequence[float], class_names: Sequence[str], threshold: float | None) -> str | None:
    """The class a binary model decides at its operating threshold: the positive (last) class when its
    probability is at least ``threshold``; None without a threshold or for a model of other than 2 classes."""
    threshold = operating_threshold(threshold, class_names)
    positive = positive_index(class_names)
    return None if threshold is None else class_names[positive if probs[positive] >= threshold else 1 - positive]


def uncalibrated(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before temperature scaling: ``softmax(logits / T) -> softmax(logits)`` is
    ``p ** T`` renormalised, so a written calibrated probability also gives the raw one."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None)
    return softmax(temperature * np.log(probs), axis=1)


def youden_threshold(positive: Sequence[bool], scores: Sequence[float]) -> float:
    """The score threshold (predict positive when ``score >= t``) maximising Youden's J = sensitivity +
    specificity - 1; ties go to the highest threshold. Candidates are the observed scores."""
    positive, scores = np.asarray(positive, dtype=bool), np.asarray(scores, dtype=np.float64)
    _need_both(positive)
    best_t, best_j = 0.5, -np.inf
    for t in np.unique(scores)[::-1]:
        called = scores >= t
        j = called[positive].mean() + (~called[~positive]).mean() - 1.0
        if j > best_j + 1e-12:
            best_t, best_j = float(t), j
    return best_t


def threshold_for_sensitivity(positive: Sequence[bool], scores: Sequence[float], target: float) -> float:
    """The highest threshold whose sensitivity is at least ``target`` (the most specific such one)."""
    positive, scores = np.asarray(positive, dtype=bool), np.asarray(scores, dtype=np.float64)
    _need_both(positive)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    for t in np.unique(scores)[::-1]:
        if (scores[positive] >= t).mean() >= target:
            return float(t)
    return float(scores.min())


def brier_score(probs: np.ndarray, labels: Sequence[int]) -> float:
    """Mean over images of the squared distance between the probability vector and the one-hot label
    (Brier 1950; 0 is perfect, 2 the worst; for two classes twice the positive-class form)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=int)
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def reliability_curve(probs: np.ndarray, labels: Sequence[int], n_bins: int = 10) -> list[dict[str, Any]]:
    """Top-label reliability: per equal-width confidence bin of ``max(p)``, its count, mean confidence
    and accuracy (bins without images left out)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=int)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "n": int((which == b).sum()),
            "confidence": float(confidence[which == b].mean()),
            "accuracy": float(correct[which == b].mean()),
        }
        for b in range(n_bins)
        if (which == b).any()
    ]


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], n_bins: int = 10) -> float:
    """Top-label ECE: the image-weighted mean of |accuracy - confidence| over :func:`reliability_curve`'s bins.

    Not MONAI's ``CalibrationErrorMetric``: that one is class-wise (each class's probability against its
    one-hot label, per image), while the report's reliability diagrams and the temperature fit are of the
    decision made, the top label's confidence; one figure must match its diagram."""
    bins = reliability_curve(probs, labels, n_bins)
    n = sum(b["n"] for b in bins)
    return float(sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / n)


def ece_interval(
    probs: np.ndarray, labels: Sequence[int], n_bootstrap: int = 1000, seed: int = 0
) -> list[float | None]:
    """The 95% percentile interval of :func:`expected_calibration_error` over ``n_bootstrap`` resamples of the images."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=int)
    samples = bootstrap_indices(len(labels), n_bootstrap, seed)
    return percentile_interval([expected_calibration_error(probs[i], labels[i]) for i in samples])


def _has_both(positive: np.ndarray) -> bool:
    return bool(positive.any() and not positive.all())


def _need_both(positive: np.ndarray) -> None:
    if not _has_both(positive):
        raise ValueError("a threshold needs positive and negative images")


def fit_calibration(
    logits: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    target_sensitivity: float | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Temperature and (binary models) operating threshold of the positive class fitted on validation
    ``logits`` and ``labels`` alone, with their stability: the 95% percentile interval of each over
    ``n_bootstrap`` resamples of the validation images (a small validation split gives wide ones).
    The threshold is Youden's J on the calibrated positive probability, or the most specific one with
    sensitivity >= ``target_sensitivity``. Brier score and ECE on validation before and after; accuracy
    and ROC AUC of the calibrated model with their 95% intervals, and (binary models) accuracy, sensitivity
    and specificity at the threshold: the validation figures the model card reports."""
    from monai_ext.metrics.intervals import percentile_interval

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=int)
    binary = len(class_names) == 2

    def fit(idx: np.ndarray) -> tuple[float, float | None]:
        t = fit_temperature(logits[idx], labels[idx])
        if not binary:
            return t, None
        pos = positive_index(class_names)
        scores, positive = softmax(logits[idx] / t, axis=1)[:, pos], labels[idx] == pos
        if not _has_both(positive):  # a resample with one class places no threshold
            return t, None
        if target_sensitivity is None:
            return t, youden_threshold(positive, scores)
        return t, threshold_for_sensitivity(positive, scores, target_sensitivity)

    temperature, threshold = fit(np.arange(len(labels)))
    boot = [fit(idx) for idx in bootstrap_indices(len(labels), n_bootstrap, seed)]
    before, after = softmax(logits, axis=1), softmax(logits / temperature, axis=1)
    report = classification_report(labels, after, class_names, n_bootstrap=n_bootstrap, seed=seed)
    figures = {"accuracy": report["accuracy"], "auc": report["auc"]}
    if threshold is not None:
        pos = positive_index(class_names)
        figures["at_threshold"] = decision_report(labels == pos, after[:, pos], threshold)
    return {
        "class_names": list(class_names),
        "positive_class": class_names[positive_index(class_names)] if binary else None,
        "temperature": temperature,
        "temperature_ci95": percentile_interval([t for t, _ in boot]),
        "threshold": threshold,
        "threshold_method": None if not binary else ("youden" if target_sensitivity is None else "sensitivity"),
        "target_sensitivity": target_sensitivity,
        "threshold_ci95": percentile_interval([h for _, h in boot if h is not None]),
        "n_validation": len(labels),
        "bootstrap": n_bootstrap,
        "validation": {
            "brier_before": brier_score(before, labels),
            "brier_after": brier_score(after, labels),
            "ece_before": expected_calibration_error(before, labels),
            "ece_after": expected_calibration_error(after, labels),
            **figures,
        },
    }


def adjust_to_prior(probs: np.ndarray, prior: Sequence[float], new_prior: Sequence[float]) -> np.ndarray:
    """Posteriors ``probs`` of a model calibrated at class ``prior`` as they read where the classes occur
    at ``new_prior`` (Bayes' rule, the likelihoods unchanged): each class's probability times
    ``new_prior / prior``, each row renormalised."""
    probs = np.asarray(probs, dtype=np.float64)
    prior, new_prior = np.asarray(prior, dtype=np.float64), np.asarray(new_prior, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(prior) or len(new_prior) != len(prior):
        raise ValueError(f"probs (N, {len(prior)}) and two priors of {len(prior)} classes expected, got {probs.shape}")
    if not (np.all(prior > 0) and np.all(new_prior >= 0)):
        raise ValueError(f"priors must be positive: {prior.tolist()} -> {new_prior.tolist()}")
    weighted = probs * (new_prior / prior)
    return weighted / weighted.sum(axis=1, keepdims=True)


def em_prior(
    probs: np.ndarray, prior: Sequence[float], tol: float = 1e-8, max_iter: int = 10000
) -> tuple[np.ndarray, int]:
    """The class prior of a new site from its unlabelled images' posteriors ``probs``, by the EM of
    Saerens, Latinne and Decaestecker (2002, Neural Computation 14:21-41): start at the calibrated
    ``prior``, adjust the posteriors to the current estimate (:func:`adjust_to_prior`), take their mean
    as the next, until it moves by less than ``tol``. It is the maximum-likelihood prior when the model's
    likelihoods hold at the site (the classes' frequencies change, not how each class looks). Returns the
    prior and the number of iterations."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        raise ValueError("no posteriors to estimate a prior from")
    start = estimate = np.asarray(prior, dtype=np.float64)
    for iteration in range(1, max_iter + 1):
        new = adjust_to_prior(probs, start, estimate).mean(axis=0)
        if np.abs(new - estimate).max() < tol:
            return new, iteration
        estimate = new
    return estimate, max_iter
