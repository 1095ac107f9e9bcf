"""Classification figures and their intervals against hand-computed values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from monai_ext.metrics import classification_report, confusion_matrix, roc_auc, roc_curve, wilson_interval


def test_wilson_interval_known_values():
    low, high = wilson_interval(198, 200)  # the study's 99% of 200
    assert low == pytest.approx(0.96428, abs=1e-4) and high == pytest.approx(0.99725, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (None, None)


def test_auc_equals_pairwise_count():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60).astype(bool)
    s = np.round(rng.random(60) + 0.3 * y, 1)  # rounded: ties happen
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a, b in itertools.product(s[y], s[~y])]
    assert roc_auc(y, s) == pytest.approx(np.mean(pairs))
    assert roc_auc(np.ones(3, bool), np.arange(3)) is None
    fpr, tpr = roc_curve(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


def test_report_on_a_known_confusion_matrix():
    y_true = np.array([0] * 50 + [1] * 50)
    y_pred = np.array([0] * 45 + [1] * 5 + [1] * 40 + [0] * 10)
    probs = np.stack([1 - y_pred * 0.8 - 0.1, y_pred * 0.8 + 0.1], axis=1)
    report = classification_report(y_true, probs, ["negative", "positive"], n_bootstrap=200)
    assert confusion_matrix(y_true, y_pred, 2).tolist() == report["confusion_matrix"] == [[45, 5], [10, 40]]
    assert report["accuracy"]["value"] == pytest.approx(0.85)
    pos = report["per_class"]["positive"]
    assert pos["sensitivity"]["value"] == pytest.approx(0.8) and pos["specificity"]["value"] == pytest.approx(0.9)
    assert pos["precision"]["value"] == pytest.approx(40 / 45)
    assert pos["f1"] == pytest.approx(2 * 40 / (2 * 40 + 5 + 10))
    assert report["macro"]["sensitivity"] == pytest.approx(0.85)
    low, high = report["auc"]["ci95"]
    assert low <= report["auc"]["value"] <= high
    f1_low, f1_high = report["macro"]["f1_ci95"]
    assert f1_low <= report["macro"]["f1"] <= f1_high
    assert report["accuracy"]["ci95"] == list(wilson_interval(85, 100))


def test_three_classes_macro_auc():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    probs = rng.dirichlet([1, 1, 1], 60)
    probs[np.arange(60), y] += 1.0
    probs /= probs.sum(1, keepdims=True)
    report = classification_report(y, probs, ["normal", "pneumonia", "COVID-19"], n_bootstrap=100)
    per_class_auc = [report["per_class"][c]["auc"] for c in ("normal", "pneumonia", "COVID-19")]
    assert report["auc"]["value"] == pytest.approx(np.mean(per_class_auc))
    assert sum(sum(r) for r in report["confusion_matrix"]) == 60


def test_log_likelihood_is_the_mean_log_probability_of_the_true_class():
    import math

    import torch

    from monai_ext.handlers import LogLikelihood

    metric = LogLikelihood()
    metric.reset()
    metric.update((torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])))
    metric.update((torch.tensor([[0.0, 1.0]]), torch.tensor([0])))  # a confident miss: log(eps), not -inf
    assert metric.compute() == pytest.approx((math.log(0.9) + math.log(0.2) + math.log(1e-7)) / 3)
    metric.reset()
    # decollated MONAI output, as the bundle's evaluator gives it
    metric.update(metric._output_transform([{"pred": torch.tensor([0.25, 0.75]), "label": torch.tensor([1])}]))
    assert metric.compute() == pytest.approx(math.log(0.75))


def test_batchnorm_statistics_are_recomputed_exactly_for_the_current_weights():
    import torch
    from torch import nn

    from monai_ext.handlers import recompute_batchnorm_statistics

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.01), nn.Dropout(0.9))
    net.train()
    batches = [{"image": torch.randn(8, 4) * 5 + 2} for _ in range(3)]
    assert recompute_batchnorm_statistics(net, batches, num_batches=2, device="cpu") == 2
    features = net[0](torch.cat([b["image"] for b in batches[:2]])).detach()
    bn = net[1]
    assert torch.allclose(bn.running_mean, features.mean(0), atol=1e-5)  # an exact average, not a momentum blend
    unbiased_per_batch = torch.stack([net[0](b["image"]).detach().var(0) for b in batches[:2]]).mean(0)
    assert torch.allclose(bn.running_var, unbiased_per_batch, atol=1e-4)
    assert bn.momentum == 0.01 and net.training and bn.num_batches_tracked == 2  # restored; two batches
    assert recompute_batchnorm_statistics(nn.Linear(2, 2), batches, 5, "cpu") == 0  # no BatchNorm: nothing to do


def test_temperature_scaling_against_the_closed_form():
    from scipy.special import softmax

    from monai_ext.metrics import fit_temperature, uncalibrated

    # four images with the same logits (2, 0), three of class 0: the best probability is 3/4,
    # so sigmoid(2 / T) = 3/4 and T = 2 / ln 3
    logits, labels = np.tile([2.0, 0.0], (4, 1)), np.array([0, 0, 0, 1])
    assert fit_temperature(logits, labels) == pytest.approx(2 / np.log(3), rel=1e-3)
    z = np.random.default_rng(0).normal(size=(5, 3)) * 3
    assert np.allclose(uncalibrated(softmax(z / 2.5, axis=1), 2.5), softmax(z, axis=1))


def test_thresholds_youden_and_target_sensitivity_by_hand():
    from monai_ext.metrics import threshold_for_sensitivity, youden_threshold

    scores, positive = [0.1, 0.4, 0.35, 0.8], [False, False, True, True]
    # J at 0.8: 0.5 + 1.0 - 1 = 0.5; at 0.4: 0.5 + 0.5 - 1 = 0; at 0.35: 1 + 0.5 - 1 = 0.5: the tie goes high
    assert youden_threshold(positive, scores) == 0.8
    assert threshold_for_sensitivity(positive, scores, 1.0) == 0.35
    assert threshold_for_sensitivity(positive, scores, 0.5) == 0.8
    with pytest.raises(ValueError, match="positive and negative"):
        youden_threshold([True, True], [0.2, 0.3])


def test_brier_and_expected_calibration_error_by_hand():
    from monai_ext.metrics import brier_score, expected_calibration_error, reliability_curve

    assert brier_score(np.array([[0.8, 0.2], [0.3, 0.7]]), [0, 0]) == pytest.approx((0.08 + 0.98) / 2)
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    labels = [0, 1, 1]  # confidences 0.9 (right), 0.6 (wrong), 0.8 (right), each alone in its bin
    assert expected_calibration_error(probs, labels) == pytest.approx((0.1 + 0.6 + 0.2) / 3)
    assert [b["n"] for b in reliability_curve(probs, labels)] == [1, 1, 1]


def test_calibration_fit_on_validation_gives_threshold_and_its_stability():
    from monai_ext.metrics import fit_calibration

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    logits = np.stack([np.zeros(80), 10 * (labels - 0.5 + rng.normal(0, 0.5, 80))], axis=1)  # over-confident
    fit = fit_calibration(logits, labels, ["negative", "positive"], n_bootstrap=50)
    assert fit["temperature"] > 1 and fit["positive_class"] == "positive" and fit["threshold_method"] == "youden"
    low, high = fit["threshold_ci95"]
    assert low <= fit["threshold"] <= high and fit["temperature_ci95"][0] <= fit["temperature"]
    v = fit["validation"]
    assert v["brier_after"] <= v["brier_before"] + 1e-9 and v["ece_after"] < v["ece_before"]
    three = fit_calibration(np.c_[logits, np.zeros(80)], labels, ["a", "b", "c"], n_bootstrap=5)
    assert three["threshold"] is None and three["positive_class"] is None  # argmax for more than two classes
