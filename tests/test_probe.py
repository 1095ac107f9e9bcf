"""The no_lung shortcut probe's verdicts, and the out-of-source verdicts, against hand-made runs."""

from __future__ import annotations

import pytest

from monai_ext.tools.reproduce.probe import shortcut_probe


def _run(cm, acc_ci, auc_ci):
    return {"overall": {"confusion_matrix": cm}, "headline": {"accuracy": {"ci95": acc_ci}, "auc": {"ci95": auc_ci}}}


CM = [[30, 10], [5, 15]]  # 40 negatives, 20 positives: always answering "negative" is right 40/60 times
LUNG_LEARNS = _run(CM, [0.7, 0.9], [0.7, 0.95])
LUNG_AT_CHANCE = _run(CM, [0.5, 0.8], [0.4, 0.7])


def test_auc_above_chance_is_a_shortcut_even_when_accuracy_is_not():
    probe = shortcut_probe(LUNG_LEARNS, _run(CM, [0.55, 0.75], [0.9, 0.99]))
    assert probe.verdict == "shortcut" and probe.chance == pytest.approx(40 / 60)
    assert probe.reasons == ["ROC AUC's lower 95% bound 0.900 > 0.5"]


def test_accuracy_above_the_majority_rate_is_a_shortcut():
    probe = shortcut_probe(LUNG_AT_CHANCE, _run(CM, [0.70, 0.85], [0.45, 0.8]))
    assert probe.verdict == "shortcut"
    assert probe.reasons == ["accuracy at 0.5: lower 95% bound 70.0% > 66.7% (majority class)"]


def test_the_accuracy_judged_is_the_one_at_the_saved_threshold():
    """The no_lung run of the default study: accuracy at 0.5 near chance while the ranking was good."""
    no_lung = _run(CM, [0.55, 0.75], [0.45, 0.8])
    no_lung["overall"]["at_threshold"] = {"threshold": 0.31, "accuracy": {"ci95": [0.72, 0.9]}}
    probe = shortcut_probe(LUNG_LEARNS, no_lung)
    assert probe.reasons == [
        "accuracy at the validation threshold 0.310: lower 95% bound 72.0% > 66.7% (majority class)"
    ]
    no_lung["overall"]["at_threshold"]["accuracy"]["ci95"] = [0.5, 0.7]  # at 0.5 it would not matter either way
    assert shortcut_probe(LUNG_LEARNS, no_lung).verdict == "none"


def test_chance_level_no_lung_beside_a_learning_lung_run_is_no_shortcut():
    probe = shortcut_probe(LUNG_LEARNS, _run(CM, [0.5, 0.75], [0.35, 0.65]))
    assert (probe.verdict, probe.reasons) == ("none", [])


def test_when_neither_run_is_above_chance_the_probe_says_nothing():
    assert shortcut_probe(LUNG_AT_CHANCE, _run(CM, [0.5, 0.75], [0.35, 0.65])).verdict == "uninformative"
    no_interval = _run(CM, [None, None], [None, None])
    assert shortcut_probe(no_interval, no_interval).verdict == "uninformative"


def test_a_lower_bound_equal_to_chance_is_not_above_it():
    probe = shortcut_probe(LUNG_LEARNS, _run(CM, [40 / 60, 0.8], [0.5, 0.7]))
    assert probe.verdict == "none"


def test_out_of_source_verdicts():
    from monai_ext.tools.reproduce.report import _out_of_source_verdict

    def auc(value, low, high):
        return {"value": value, "ci95": [low, high]}

    inside = auc(0.94, 0.88, 0.99)
    assert _out_of_source_verdict(inside, auc(0.50, 0.43, 0.57)) == "**falls to chance** (by 0.440)"
    assert _out_of_source_verdict(inside, auc(0.80, 0.75, 0.85)) == "drops by 0.140, stays above chance"
    assert _out_of_source_verdict(inside, auc(0.90, 0.85, 0.95)) == "holds (intervals overlap)"
    assert _out_of_source_verdict(auc(0.6, 0.45, 0.7), auc(0.5, 0.4, 0.6)) == "not above chance in source"
    assert _out_of_source_verdict(inside, {"value": None, "ci95": [None, None]}) == "n/a (one class only)"


def test_run_names_split_back_into_backbone_and_mode():
    """Backbones and modes both hold underscores: the report's rows must not split them at the first one."""
    from pathlib import Path

    from monai_ext.tools.reproduce.paths import StudyPaths, split_run_name

    for backbone, mode in (("vgg19_bn", "no_lung"), ("efficientnet_b7", "cxr"), ("resnet50", "lung")):
        assert split_run_name(StudyPaths.experiment_cls(Path("x"), backbone, mode).name) == (backbone, mode)
    with pytest.raises(ValueError, match="not <backbone>_<input mode>"):
        split_run_name("vgg19_bn_lungs")
