"""The input gate's checks against hand-made cases (an inverted, a rotated, an upside-down radiograph, an
implausible mask, a DICOM of another modality, a colour photograph, a non-finite image), its out-of-distribution
score against values computed by hand, the segmenter's test-time agreement, and recalibration's temperature
against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_ext.gate import FeatureDensity, InputGate, image_checks, ledoit_wolf, lung_geometry
from monai_ext.tools.synthetic.phantom import make_phantom
from monai_ext.transforms import lung_mask_quality


@pytest.fixture(scope="module")
def phantoms():
    rng = np.random.default_rng(0)
    return [make_phantom(rng, 128, label) for label in ("normal", "COVID-19", "pneumonia") for _ in range(3)]


def _decided(meta, image, mask):
    """The default gate's result on an input, the mask's quality measured as the bundles measure it."""
    quality = None if mask is None else lung_mask_quality(mask)
    scores, problems = image_checks(meta, image, mask, quality)
    return InputGate().decide(scores, problems, None, None)


def _failed(meta, image, mask):
    return list(dict.fromkeys(check for check, _ in _decided(meta, image, mask).failed))


def test_an_upright_frontal_radiograph_passes_every_check(phantoms):
    for p in phantoms:
        result = _decided({"modality": "CR", "body_part": "CHEST", "view_position": "PA"}, p.image, p.lung)
        assert result.failed == [] and result.scores["upright"] > 0 and result.scores["mediastinum_contrast"] > 0
        assert 0.2 < result.scores["detail"] < 1.25 and 2 * 0.05 < result.scores["lung_fraction"] < 0.6


def test_inverted_rotated_and_upside_down_radiographs_are_told_apart(phantoms):
    for p in phantoms:
        assert _failed({}, 1.0 - p.image, p.lung) == ["polarity"]  # bright lungs, the right way up
        # turned, the lungs lie one above the other: the mask's left and right halves may differ too
        assert "orientation" in _failed({}, np.rot90(p.image), np.rot90(p.lung))
        assert "orientation" in _failed({}, np.rot90(p.image, -1), np.rot90(p.lung, -1))
        assert _failed({}, p.image[::-1], p.lung[::-1]) == ["orientation"]
    reason = _decided({}, phantoms[0].image[::-1], phantoms[0].lung[::-1]).reasons[0]
    assert reason.startswith("upside down (upright -") and reason.endswith("below 0, default, not fitted)")
    reasons = _decided({}, np.rot90(phantoms[0].image), np.rot90(phantoms[0].lung)).reasons
    assert any("turned by 90 degrees" in r for r in reasons)


def test_the_lung_geometry_by_hand():
    mask = np.zeros((40, 40), bool)
    mask[5:30, 5:15] = True  # two 25 x 10 lungs side by side
    mask[5:30, 25:35] = True
    image = np.where(mask, 0.2, 0.6)
    image[30:, :] = 0.9  # the abdomen below, bright
    image[:5, :] = 0.3  # the shoulders above, darker
    g = lung_geometry(mask, image)
    assert g["side_by_side"] == 20.0 and g["lung_aspect"] == 2.5
    assert g["mediastinum_contrast"] == pytest.approx(0.6 - 0.2, abs=1e-4)
    assert g["upright"] == pytest.approx(0.9 - 0.3, abs=1e-4)  # 3 rows (12% of 25) below minus 3 above
    inverted = lung_geometry(mask, 1.0 - image)
    assert inverted["mediastinum_contrast"] < 0 and inverted["upright"] == pytest.approx(0.6, abs=1e-4)
    upside = lung_geometry(mask[::-1], image[::-1])
    assert upside["upright"] == pytest.approx(-0.6, abs=1e-4)


def test_an_implausible_mask_and_no_mask(phantoms):
    p = phantoms[0]
    one = p.lung.copy()
    one[:, 64:] = False  # one lung
    assert "lung_regions" in _failed({}, p.image, one)
    assert _decided({}, p.image, one).reasons[0] == "1 lung regions (2 expected)"
    small = np.zeros_like(p.lung)
    small[40:46, 30:36] = small[40:46, 90:96] = True  # two lungs of 36 pixels each: 0.4% of the picture
    assert "lung_mask" in _failed({}, p.image, small)
    assert _failed({}, p.image, None) == []  # no mask: the mask checks are not made


@pytest.mark.parametrize(
    ("meta", "check", "words"),
    [
        ({"modality": "MR"}, "modality", "modality MR is not a radiograph"),
        ({"modality": "CR", "body_part": "EXTREMITY"}, "body_part", "body part EXTREMITY is not the chest"),
        ({"modality": "DX", "view_position": "LL"}, "view_position", "view LL is not frontal"),
        ({"photometric_interpretation": "PALETTE COLOR"}, "photometric", "a colour image"),
        ({"colourfulness": 42.0}, "colourfulness", "a colour picture (colourfulness 42 above 8, default, not fitted)"),
    ],
)
def test_headers_and_colour_that_are_not_a_chest_radiographs(phantoms, meta, check, words):
    result = _decided(meta, phantoms[0].image, phantoms[0].lung)
    assert [c for c, _ in result.failed] == [check] and words in result.reasons[0]


def test_a_colour_photograph_and_a_grey_image_stored_as_rgb(tmp_path):
    import skimage.data
    from PIL import Image

    from monai_ext.data import colourfulness, read_cxr

    assert colourfulness(skimage.data.astronaut()) > 15
    grey = np.repeat(skimage.data.camera()[..., None], 3, axis=2)
    assert colourfulness(grey) == 0.0
    Image.fromarray(skimage.data.coffee()).save(tmp_path / "coffee.jpg")
    assert read_cxr(tmp_path / "coffee.jpg")[1]["colourfulness"] > 8


def test_a_non_finite_image_never_reaches_the_gate(tmp_path):
    import pydicom

    from monai_ext.data import read_cxr, write_dicom_cr
    from monai_ext.errors import CXRReadError

    write_dicom_cr(np.full((40, 40), 0.5), tmp_path / "x.dcm", monochrome1=False, uid_seed="x")
    ds = pydicom.dcmread(tmp_path / "x.dcm")
    ds.RescaleSlope = "NaN"
    ds.save_as(tmp_path / "x.dcm")
    with pytest.raises(CXRReadError, match="not finite"):  # a read error of the file: skipped, no decision
        read_cxr(tmp_path / "x.dcm")


def test_ledoit_wolf_shrinkage_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)) * np.array([1.0, 2.0, 0.5, 1.0])
    x = x - x.mean(axis=0)
    n, d = x.shape
    s = x.T @ x / n
    mu = np.trace(s) / d
    delta = np.sum((s - mu * np.eye(d)) ** 2) / d
    beta = sum(np.sum((np.outer(r, r) - s) ** 2) for r in x) / (n * n * d)
    shrink = min(beta / delta, 1.0)
    covariance, got = ledoit_wolf(torch.tensor(x))
    assert got == pytest.approx(shrink, rel=1e-9)
    np.testing.assert_allclose(covariance.numpy(), (1 - shrink) * s + shrink * mu * np.eye(d), rtol=1e-9)


def test_the_feature_distance_by_hand():
    rng = np.random.default_rng(1)
    features = torch.tensor(np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(4, 1, (20, 3))]))
    labels = torch.tensor([0] * 20 + [1] * 20)
    density = FeatureDensity.fit(features, labels, n_components=3)  # all components: a rotation, same distances
    x = features.numpy()
    means = [x[:20].mean(0), x[20:].mean(0)]
    centred = np.concatenate([x[:20] - means[0], x[20:] - means[1]])
    covariance = ledoit_wolf(torch.tensor(centred))[0].numpy()
    query = np.array([[0.0, 0.0, 0.0], [10.0, -3.0, 2.0]])
    expected = [min(math.sqrt((q - m) @ np.linalg.inv(covariance) @ (q - m)) for m in means) for q in query]
    np.testing.assert_allclose(density.distance(torch.tensor(query)).numpy(), expected, rtol=1e-5)
    assert density.distance(torch.tensor(query))[1] > 5 * density.distance(torch.tensor(query))[0]


def test_the_gate_decides_from_its_checks_the_segmenters_doubt_and_the_distance():
    gate = InputGate(thresholds={"ood_distance_max": 10.0, "tta_disagreement_max": 0.15}, fitted=True)
    assert gate.decide({}, [], 0.05, 9.0).gate == "answer"
    result = gate.decide({}, [("lower_edge", "cut off")], 0.4, 12.0)
    assert result.abstains and [c for c, _ in result.failed] == ["lower_edge", "tta_disagreement", "ood_distance"]
    fields = result.fields()
    assert fields["abstain_reason"].startswith("cut off; the segmenter's test-time passes disagree on the lungs")
    assert "(tta_disagreement 0.4 above 0.15, fitted)" in fields["abstain_reason"]
    assert fields["gate_checks"] == "lower_edge; tta_disagreement; ood_distance"
    assert gate.decide({}, [], math.nan, None).gate == "answer"  # checks not made are not held against an input
    off = InputGate(enabled=False).decide({}, [("lower_edge", "cut off")], 0.9, 99.0)
    assert off.gate == "off" and off.fields()["abstain_reason"] == ""


def test_test_time_passes_agree_and_disagree():
    from monai_ext.inferers import FlipTTAInferer
    from monai_ext.transforms import LungMaskAgreement

    image = torch.zeros(1, 1, 8, 8)
    image[..., 2:6, 0:3] = 1.0

    def bright(x):  # calls "lung" what is bright: its mirror image gives the mirror mask
        return (x - 0.5) * 20

    def left(x):  # calls "lung" the left half, whatever it sees: its mirror pass says the right half
        out = torch.full_like(x, -10.0)
        out[..., :4] = 10.0
        return out

    for net, expected in ((bright, 0.0), (left, 1.0)):
        pred = FlipTTAInferer()(image, net)
        lung, score = LungMaskAgreement()(pred[0])
        assert tuple(lung.shape) == (1, 8, 8) and score == expected  # 1 - IoU of the passes' masks
    assert math.isnan(LungMaskAgreement()(torch.zeros(1, 8, 8))[1])  # a single pass: no score


def test_temperature_against_its_closed_form():
    from scipy.special import logit

    from monai_ext.metrics.calibration import fit_temperature

    # every image has the logit margin m, and a share q of them are right: the cross-entropy is least at
    # sigmoid(m / T) = q, so T = m / logit(q)
    m, q = 3.0, 0.8
    logits = np.tile([0.0, m], (100, 1))
    labels = np.array([1] * 80 + [0] * 20)
    assert fit_temperature(logits, labels) == pytest.approx(m / logit(q), rel=1e-4)
