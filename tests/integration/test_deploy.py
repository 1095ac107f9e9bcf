"""The MONAI Deploy application (App SDK 4.x) on a DICOM folder with the real RG1_UNCR.dcm: chest
radiographs found, masks at each radiograph's size, probabilities, other files skipped with a reason.
Runs in .venv-deploy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip(
    "monai.deploy", reason="MONAI Deploy App SDK is not installed here; `make integration` runs this in .venv-deploy"
)

import highdicom as hd
from helpers import CLS, CLS_CALIBRATION, SEG, bundle_copy
from PIL import Image

from monai_ext.apps.deploy.demo import run_demo
from monai_ext.apps.deploy.finder import find_chest_radiographs
from monai_ext.gate import CHECKS, MAX_TTA_DISAGREEMENT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    seg, cls = bundle_copy(SEG, root / "bundles"), bundle_copy(CLS, root / "bundles")
    return root / "run", run_demo(root / "run", seg_bundle=seg, cls_bundle=cls)


def test_finds_chest_radiographs_and_says_why_others_are_skipped(demo):
    _, results = demo
    names = sorted(Path(r["file"]).name for r in results["radiographs"])
    assert "RG1_UNCR.dcm" in names and len(names) == 3
    skipped = {Path(k).name: v for k, v in results["skipped"].items()}
    assert "body part EXTREMITY" in skipped["RG3_UNCR_tibia.dcm"]
    assert any("not a readable DICOM" in why for name, why in skipped.items() if name.endswith(".png"))


def test_masks_are_at_each_radiographs_size_with_probabilities(demo):
    _, results = demo
    for item in results["radiographs"]:
        ds = pydicom.dcmread(item["file"], stop_before_pixels=True)
        mask = np.asarray(Image.open(item["lung_mask"]))
        assert mask.shape == (ds.Rows, ds.Columns) and set(np.unique(mask)) <= {0, 255}
        assert item["SOPInstanceUID"] == ds.SOPInstanceUID
        assert set(item["probabilities"]) == {"negative", "positive"}
        assert sum(item["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert item["prediction"] == max(item["probabilities"], key=item["probabilities"].get)
        seg = pydicom.dcmread(item["lung_seg"])  # DICOM SEG over the radiograph, the same pixels as the PNG
        assert seg.Modality == "SEG" and seg.SegmentSequence[0].SegmentLabel == "lung"
        assert (
            seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
        )
        assert np.array_equal(seg.pixel_array.reshape(mask.shape) > 0, mask > 0)
        report = hd.sr.srread(item["classification_sr"])
        group = report.content.get_image_measurement_groups()[0]
        found = {m.name.meaning: m.value for m in group.get_measurements()}
        assert item["gate"] in ("answer", "abstain") and item["threshold"] == CLS_CALIBRATION["threshold"]
        # the segmentation operator's mirror-image pass reaches the gate: its disagreement is measured and judged
        assert 0 <= item["tta_disagreement"] <= 1
        assert ("tta_disagreement" in item["not_assessed"]) == (item["tta_disagreement"] > MAX_TTA_DISAGREEMENT)
        if item["gate"] == "abstain":  # the SR says it was not assessed, and why: no probability
            assert item["decision"] == "abstain" and item["abstain_reason"] and found == {}
            evaluations = {(e.name.meaning, e.value.meaning) for e in group.get_qualitative_evaluations()}
            assert ("Assessment by the input gate", "Not assessable") in evaluations
            assert {v for n, v in evaluations if n == "Reason not assessed"} == {
                CHECKS[c] for c in item["not_assessed"]
            }
        else:  # DICOM SR: the same probabilities as the JSON, the decision at the model's saved threshold
            assert found == pytest.approx(
                {f"Probability of {k}": v for k, v in item["probabilities"].items()}, abs=1e-6
            )
            assert item["decision"] == (
                "positive" if item["probabilities"]["positive"] >= item["threshold"] else "negative"
            )
        saliency = item["saliency"]
        assert saliency["method"] == "Grad-CAM" and saliency["explained"] == item["prediction"]
        assert 0 <= saliency["in_lung"] <= 1 and 0 < saliency["lung_area"] < 1
        overlay = Image.open(saliency["map"])
        assert overlay.mode == "RGB" and overlay.size == (224, 224)  # the classifier's input size


def test_finder_refuses_non_radiographs(tmp_path):
    from pydicom.data import get_testdata_file

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct.save_as(tmp_path / "ct.dcm")
    chosen, skipped = find_chest_radiographs(tmp_path)
    assert chosen == [] and "modality CT" in skipped[str(tmp_path / "ct.dcm")]


def test_an_sr_of_a_radiograph_not_assessed_says_why(tmp_path):
    from pydicom.data import get_testdata_file

    from monai_ext.apps.pacs.objects import write_classification_sr

    out = write_classification_sr(
        Path(get_testdata_file("RG1_UNCR.dcm")),
        {"negative": 0.3, "positive": 0.7},
        tmp_path / "sr.dcm",
        not_assessed=["orientation", "ood_distance"],
    )
    group = hd.sr.srread(out).content.get_image_measurement_groups()[0]
    assert group.get_measurements() == []
    reasons = [e.value.meaning for e in group.get_qualitative_evaluations() if e.name.meaning == "Reason not assessed"]
    assert reasons == [CHECKS["orientation"], CHECKS["ood_distance"]]
