"""A site's class prior from its unlabelled images (Saerens et al. 2002): the EM against a closed form, the
adjusted probabilities by hand, the estimate from a predictions file (abstentions left out, too few refused),
and the calibrated prior a model folder gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from monai_ext.bundle import ModelSettingsError, read_model_folder, write_class_names, write_model_settings
from monai_ext.constants import CALIBRATION_FILE, PRIOR_SHIFT_FILE, PRIOR_SHIFT_PREDICTIONS_FILE
from monai_ext.errors import CXRError
from monai_ext.handlers import PriorShift
from monai_ext.metrics import adjust_to_prior, em_prior
from monai_ext.utils import file_sha256, read_csv, write_csv, write_json

NAMES = ["negative", "positive"]


def _two_kinds(n: int, site_positive: float) -> np.ndarray:
    """Images of two kinds whose posteriors at a calibrated prior of 0.5 are 0.8 and 0.2 positive: kind A
    is four times as likely under the positive class (P(A | positive) 0.8, P(A | negative) 0.2), so at a
    site where positives are ``site_positive`` a share 0.2 + 0.6 ``site_positive`` of its images is of kind A."""
    a = round(n * (0.2 + 0.6 * site_positive))
    return np.array([[0.2, 0.8]] * a + [[0.8, 0.2]] * (n - a))


def test_adjusting_a_posterior_to_another_prior_by_hand():
    # 0.8 at a prior of 0.5; at 0.2: odds 4 x (0.2 / 0.8) = 1, so 0.5; at 0.9: odds 4 x 9 = 36, so 36/37
    adjusted = adjust_to_prior(np.array([[0.2, 0.8], [0.2, 0.8]]), [0.5, 0.5], [0.8, 0.2])
    np.testing.assert_allclose(adjusted, [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(adjust_to_prior(np.array([[0.2, 0.8]]), [0.5, 0.5], [0.1, 0.9]), [[1 / 37, 36 / 37]])
    np.testing.assert_allclose(adjust_to_prior(np.array([[0.3, 0.7]]), [0.4, 0.6], [0.4, 0.6]), [[0.3, 0.7]])
    with pytest.raises(ValueError, match="priors must be positive"):
        adjust_to_prior(np.array([[0.3, 0.7]]), [0.0, 1.0], [0.5, 0.5])


@pytest.mark.parametrize("site_positive", [0.2, 0.5, 0.75])
def test_em_finds_the_sites_prior_against_the_closed_form(site_positive):
    """With the kinds' shares exactly as the prior makes them, the likelihood's maximum is that prior: at it
    the adjusted posteriors average to it (the EM's fixed point, checked by hand for 0.2: kind A reads 0.5,
    kind B 1/17, and 0.32 x 0.5 + 0.68 / 17 = 0.2)."""
    probs = _two_kinds(1000, site_positive)
    prior, iterations = em_prior(probs, [0.5, 0.5])
    assert prior == pytest.approx([1 - site_positive, site_positive], abs=1e-6)
    assert (iterations > 1) == (site_positive != 0.5)  # at the calibrated prior the first step stays there
    assert adjust_to_prior(probs, [0.5, 0.5], prior).mean(axis=0) == pytest.approx(prior, abs=1e-6)


def _predictions(path, probs, gates):
    rows = [
        {"name": f"img{i}.png", "prob_negative": p[0], "prob_positive": p[1], "gate": g}
        for i, (p, g) in enumerate(zip(probs, gates))
    ]
    write_csv(rows, path, ["name", "prob_negative", "prob_positive", "predicted", "gate"])


def test_the_estimate_leaves_abstentions_out_and_writes_the_sites_probabilities(tmp_path):
    probs = _two_kinds(100, 0.2)
    # ten more images the gate abstained on, all "positive": counted, they would pull the prior up
    _predictions(tmp_path / "predictions.csv", [*probs, *[[0.01, 0.99]] * 10], ["answer"] * 100 + ["abstain"] * 10)
    PriorShift(tmp_path / "predictions.csv", NAMES, {"negative": 0.5, "positive": 0.5}, tmp_path).run()
    record = json.loads((tmp_path / PRIOR_SHIFT_FILE).read_text())
    assert record["site_prior"] == {"negative": 0.8, "positive": 0.2}
    assert record["calibrated_prior"] == {"negative": 0.5, "positive": 0.5}
    assert record["n_images"] == 100 and record["n_left_out"] == 10
    low, high = record["site_prior_ci95"]["positive"]
    assert low < 0.2 < high and record["predictions_sha256"] == file_sha256(tmp_path / "predictions.csv")
    rows = read_csv(tmp_path / PRIOR_SHIFT_PREDICTIONS_FILE)
    assert len(rows) == 100 and float(rows[0]["prob_positive"]) == 0.8
    assert float(rows[0]["prob_positive_at_site"]) == pytest.approx(0.5)  # kind A at the site's 0.2
    assert float(rows[-1]["prob_positive_at_site"]) == pytest.approx(1 / 17, abs=1e-6)


def test_too_few_answered_images_or_another_models_predictions_are_refused(tmp_path):
    _predictions(tmp_path / "predictions.csv", _two_kinds(30, 0.2), ["answer"] * 15 + ["abstain"] * 15)
    with pytest.raises(CXRError, match=r"predictions.csv: 15 images the gate answered on \(of 30\); .* at least 20"):
        PriorShift(tmp_path / "predictions.csv", NAMES, {"negative": 0.5, "positive": 0.5}, tmp_path).run()
    with pytest.raises(CXRError, match=r"no columns \['prob_normal', 'prob_covid'\]"):
        PriorShift(tmp_path / "predictions.csv", ["normal", "covid"], {"normal": 0.5, "covid": 0.5}, tmp_path).run()
    assert not (tmp_path / PRIOR_SHIFT_FILE).exists()


def test_a_model_folder_gives_the_prior_it_was_calibrated_at(tmp_path):
    torch.save({"w": torch.zeros(3)}, tmp_path / "model.pt")
    digest = file_sha256(tmp_path / "model.pt")
    settings = {"bundle": "cxr_covid_classification", "class_names": NAMES, "model_sha256": digest}
    write_model_settings(settings, tmp_path)
    write_class_names(NAMES, tmp_path)
    calibration = {"class_names": NAMES, "positive_class": "positive", "temperature": 1.0, "threshold": 0.5}
    write_json({**calibration, "model_sha256": digest}, tmp_path / CALIBRATION_FILE)
    with pytest.raises(ModelSettingsError, match="training_data.splits.validation.classes"):
        read_model_folder(tmp_path).calibrated_prior()
    splits = {"validation": {"n": 40, "classes": {"negative": 30, "positive": 10}}}
    write_model_settings({**settings, "training_data": {"splits": splits}}, tmp_path)
    assert read_model_folder(tmp_path).calibrated_prior() == {"negative": 0.75, "positive": 0.25}
    # a recalibrated folder's probabilities are calibrated at the site's images
    recalibration = {"recalibration": {"counts": {"negative": 12, "positive": 12}}}
    write_json({**calibration, "model_sha256": digest, **recalibration}, tmp_path / CALIBRATION_FILE)
    assert read_model_folder(tmp_path).calibrated_prior() == {"negative": 0.5, "positive": 0.5}
