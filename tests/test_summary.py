"""The summary make demo ends with: the figures with their intervals, and where the files are."""

from __future__ import annotations

import json

from monai_ext.tools.summary import demo_summary


def _proportion(k: int, n: int, low: float, high: float) -> dict:
    return {"value": k / n, "ci95": [low, high], "k": k, "n": n}


def test_the_summary_gives_each_figure_with_its_interval_and_the_files(tmp_path):
    seg, cls, masks, models = tmp_path / "seg", tmp_path / "cls", tmp_path / "masks", tmp_path / "models"
    for folder in (seg, cls, masks, models):
        folder.mkdir()
    (masks / "a.png").write_bytes(b"")
    (models / "MODEL_CARD.md").write_text("# card")
    dice = {"mean": 0.9123, "std": 0.01, "median": 0.91, "ci95": [0.9001, 0.9234], "n": 45, "n_undefined": 0}
    (seg / "metrics_summary.json").write_text(json.dumps({"metrics": {}, "per_image": {"val_mean_dice": dice}}))
    overall = {
        "n": 40,
        "accuracy": _proportion(32, 40, 0.652, 0.895),
        "auc": {"value": 0.871, "ci95": [0.75, 0.96], "bootstrap": 1000},
        "gating": {
            "abstention_rate": _proportion(2, 40, 0.014, 0.165),
            "answered_accuracy": _proportion(31, 38, 0.667, 0.907),
        },
    }
    (cls / "metrics.json").write_text(json.dumps({"overall": overall}))
    text = demo_summary(seg, cls, masks, [models])
    assert "lung segmentation (test split, 45 images): mean Dice 0.912 (95% CI 0.900-0.923)" in text
    assert "accuracy 0.800 (95% CI 0.652-0.895), ROC AUC 0.871 (95% CI 0.750-0.960)" in text
    assert (
        "abstained on 2 of 40; its decisions at the operating threshold were right on 0.816 (95% CI 0.667-0.907) of those answered"
        in text
    )
    assert f"{masks} (1 PNG)" in text and str(models / "MODEL_CARD.md") in text


def test_a_missing_evaluation_is_said_not_hidden(tmp_path):
    text = demo_summary(tmp_path / "seg", tmp_path / "cls")
    assert "lung segmentation: no figures in" in text and "COVID-19 classification: no figures in" in text
