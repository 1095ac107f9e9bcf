"""The gate's thresholds fitted at a stated false-refusal rate (by hand), its fine-detail check on a real
chest CR blurred, enlarged and under noise, and the pictures it is fitted and measured on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from monai_ext.data import read_cxr
from monai_ext.gate import BOUNDS, InputGate, image_detail
from monai_ext.gate.thresholds import Side, conformal_threshold, fit_thresholds
from monai_ext.tools.fit_gate import THRESHOLDLESS_CHECKS, fit_from_predictions
from monai_ext.tools.gate_sets import MILD, NEAR_OOD, write_kinds
from monai_ext.tools.gate_targets import auroc


@pytest.fixture(scope="module")
def chest_cr():
    """pydicom-data's real chest CR, as 8-bit grey."""
    image, _ = read_cxr(get_testdata_file("RG1_UNCR.dcm"))
    return np.round(image * 255).astype(np.uint8)


def test_the_conformal_threshold_by_hand():
    values = list(range(1, 1000))  # 999 scores: k = ceil(1000 x 0.995) = 995
    above = conformal_threshold(values, Side.ABOVE, 0.005)
    assert above == {"threshold": 995.0, "rate": 0.005, "n": 999, "guaranteed_rate": 0.005, "refused": 4}
    below = conformal_threshold(values, Side.BELOW, 0.005)
    assert below["threshold"] == 5.0 and below["refused"] == 4
    few = conformal_threshold([3.0, 1.0, 2.0, math.nan], Side.ABOVE, 0.005)  # too few for the rate: the largest
    assert few == {"threshold": 3.0, "rate": 0.005, "n": 3, "guaranteed_rate": 0.25, "refused": 0}
    assert conformal_threshold([math.nan], Side.ABOVE, 0.01)["threshold"] is None


def test_the_whole_gate_is_fitted_again_at_half_the_rate_until_it_refuses_at_most_its_rate():
    rng = np.random.default_rng(0)
    rows = [{b.score: float(rng.normal()) for b in BOUNDS.values()} for _ in range(4000)]
    # every score independent: 12 checks at 0.5% each refuse about 6% of the rows together
    fit = fit_thresholds(rows, check_rate=0.005, gate_rate=0.02)
    assert fit["gate"]["refused"] <= 0.02 and fit["gate"]["check_rate"] == 0.00125
    assert fit_thresholds(rows, 0.005, 0.02)["gate"] == fit["gate"]  # deterministic
    at_rate = fit_thresholds(rows, check_rate=0.005, gate_rate=1.0)
    assert at_rate["gate"]["check_rate"] == 0.005 and 0.04 < at_rate["gate"]["refused"] < 0.08
    record = fit["thresholds"]["upright_min"]
    assert record["side"] == "below" and record["n"] == 4000 and record["rate"] == 0.00125
    # a row refused by a check with no threshold counts against the gate's rate
    others = fit_thresholds(rows[:100], 0.005, 0.02, other_refusals=[True] * 3 + [False] * 97)
    assert others["gate"]["refused"] == 0.03


def test_the_fit_reads_predictions_as_written_and_counts_what_the_reader_refused():
    rows = [
        {"upright": str(0.1 + i / 1000), "detail": "0.5", "tta_disagreement": "", "gate_checks": ""} for i in range(199)
    ]
    rows.append({"upright": "0.3", "detail": "0.5", "gate_checks": "lung_regions"})
    fit = fit_from_predictions(rows, refused={"broken.dcm": "not a DICOM file"}, gate_rate=0.02)
    assert fit["thresholds"]["upright_min"]["threshold"] == 0.1 and fit["thresholds"]["upright_min"]["n"] == 200
    assert fit["thresholds"]["tta_disagreement_max"]["threshold"] is None  # not measured: not fitted
    assert fit["gate"]["n"] == 201 and fit["gate"]["refused"] == round(2 / 201, 6)
    assert "lung_regions" in THRESHOLDLESS_CHECKS and "upright" not in THRESHOLDLESS_CHECKS


def test_a_fitted_threshold_decides_and_says_so():
    gate = InputGate(thresholds={"upright_min": 0.05}, fitted=True)
    result = gate.decide({"upright": 0.03}, [], None, None)
    assert result.failed == [("orientation", "upside down (upright 0.03 below 0.05, fitted)")]
    assert InputGate().decide({"upright": 0.03}, [], None, None).failed == []  # the default is 0
    with pytest.raises(ValueError, match="unknown gate thresholds"):
        InputGate(thresholds={"upright": 0.1})


def test_the_gate_of_a_model_folder_takes_its_fitted_thresholds():
    class Folder:
        def __init__(self, gate):
            self.gate = gate

        def gate_density(self):
            return None, 40.0

    gate = InputGate.from_model_folder(Folder({"thresholds": {"detail_min": {"threshold": 0.35}}}))
    assert gate.fitted and gate.thresholds["detail_min"] == 0.35 and gate.thresholds["ood_distance_max"] == 40.0
    assert not InputGate.from_model_folder(Folder({})).fitted


def test_fine_detail_of_a_real_chest_cr_blurred_enlarged_and_under_noise(chest_cr):
    detail = {name: image_detail(make(chest_cr, 0)[0] / 255.0) for name, make in {**MILD, **NEAR_OOD}.items()}
    original = image_detail(chest_cr / 255.0)
    low, high = BOUNDS["detail_min"].default, BOUNDS["detail_max"].default
    assert low < original < high
    for name in MILD:  # what another hospital's radiograph may carry keeps its detail
        assert low < detail[name] < high, name
    assert detail["blurred"] < 0.5 * low and detail["thumbnail"] < 0.8 * low
    assert detail["noise"] > high
    assert image_detail(np.zeros((64, 64))) == 0.0  # a blank frame has none
    # the score does not depend on the size: the picture at half its size scores within 20%
    assert image_detail(chest_cr[::2, ::2] / 255.0) == pytest.approx(original, rel=0.2)


def test_the_kinds_are_written_from_real_radiographs(chest_cr, tmp_path):
    item = {"image": get_testdata_file("RG1_UNCR.dcm"), "name": "chest/RG1_UNCR.dcm"}
    folders = write_kinds([item], tmp_path, {**MILD, **NEAR_OOD}, keep_original=True)
    assert sorted(folders) == sorted(["original", *MILD, *NEAR_OOD])
    read = {name: read_cxr(next(folder.iterdir()))[0] for name, folder in folders.items()}
    assert next(folders["jpeg20"].iterdir()).name == "chest_RG1_UNCR.jpg"
    rows, cols = chest_cr.shape
    assert read["original"].shape == (rows, cols) and max(read["size256"].shape) == 256
    assert read["rotated"].shape == (cols, rows) and read["tiled"].shape == (2 * (rows // 2), 2 * (cols // 2))
    assert read["top_third"].shape[0] == round(rows / 3) and read["one_lung"].shape[1] == cols - round(cols / 2)
    np.testing.assert_array_equal(read["upside_down"], read["original"][::-1])
    np.testing.assert_allclose(read["inverted"], 1.0 - read["original"], atol=1 / 255)


def test_auroc_by_hand():
    assert auroc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert auroc([1.0, 3.0], [2.0, 2.0]) == 0.5
    assert auroc([2.0], [2.0]) == 0.5 and auroc([], [1.0]) is None
