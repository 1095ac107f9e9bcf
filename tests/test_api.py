"""The one-line Python API (monai_ext.LungSegmenter, monai_ext.CovidClassifier) gives what the bundles'
command line gives on the same inputs: masks byte-identical, probabilities within 1e-6, the same decision
and gate."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from checkout import bundle_source
from conftest import run_cli
from PIL import Image

from monai_ext import CovidClassifier, LungSegmenter
from monai_ext.constants import CLS_BUNDLE, SEG_BUNDLE
from monai_ext.data import read_cxr
from monai_ext.utils import read_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory, seg_models, cls_models, synthetic_root, rg1_paths):
    """Both bundles copied side by side with trained weights, a few inputs (the real CR among them: rows
    differ from columns), and the command line's masks and predictions on them."""
    root = tmp_path_factory.mktemp("api")
    bundles = {}
    for name, models in ((SEG_BUNDLE, seg_models), (CLS_BUNDLE, cls_models)):
        bundles[name] = bundle_source(name, root / "bundles")
        shutil.copytree(models, bundles[name] / "models", dirs_exist_ok=True)
    images = root / "images"
    images.mkdir()
    shutil.copy2(rg1_paths["UNCR"], images / "RG1_UNCR.dcm")
    for path in sorted((synthetic_root / "covidx" / "test").glob("*"))[:3]:
        shutil.copy2(path, images / path.name)
    out = {}
    for name in (SEG_BUNDLE, CLS_BUNDLE):
        out[name] = root / f"cli_{name}"
        run_cli(
            ["python", "-m", "monai.bundle", "run", "--config_file", str(bundles[name] / "configs" / "inference.json"),
             "--dataset_dir", str(images), "--output_dir", str(out[name]), "--device", "cpu"],
            cwd=root,
        )  # fmt: skip
    return {"bundles": bundles, "images": sorted(images.iterdir()), "cli": out}


def test_lung_segmenter_equals_the_bundles_inference(setup):
    seg = LungSegmenter(setup["bundles"][SEG_BUNDLE], device="cpu")
    masks = seg(setup["images"])  # a list gives a list
    assert len(masks) == len(setup["images"])
    for path, mask in zip(setup["images"], masks):
        written = np.asarray(Image.open(setup["cli"][SEG_BUNDLE] / (path.stem + ".png")))
        assert mask.dtype == np.uint8 and mask.shape == read_cxr(path)[0].shape
        np.testing.assert_array_equal(mask, written // 255)
    array, _ = read_cxr(setup["images"][0])
    np.testing.assert_array_equal(seg(array), masks[0])  # a loaded array, as the file


def test_covid_classifier_equals_the_bundles_inference(setup):
    seg = LungSegmenter(setup["bundles"][SEG_BUNDLE], device="cpu")
    clf = CovidClassifier(setup["bundles"][CLS_BUNDLE], segmenter=seg, device="cpu")
    rows = {row["name"]: row for row in read_csv(setup["cli"][CLS_BUNDLE] / "predictions.csv")}
    for path, answer in zip(setup["images"], clf(setup["images"])):
        row = rows[path.name]
        assert set(answer["probabilities"]) == set(clf.class_names)
        for name, p in answer["probabilities"].items():
            assert abs(p - float(row[f"prob_{name}"])) < 1e-6
        assert answer["decision"] == row["decision"]
        assert answer["gate"] == row["gate"] and answer["abstain_reason"] == row["abstain_reason"]
        assert answer["ood_distance"] == pytest.approx(float(row["ood_distance"]), abs=1e-3)


def test_covid_classifier_finds_its_sibling_segmenter(setup):
    """Without a segmenter the bundle's own ``seg_bundle_dir`` (the segmentation bundle beside it) gives the
    gate its mask, as in the command line."""
    clf = CovidClassifier(setup["bundles"][CLS_BUNDLE], device="cpu")
    rows = {row["name"]: row for row in read_csv(setup["cli"][CLS_BUNDLE] / "predictions.csv")}
    path = setup["images"][0]
    answer = clf(path)
    assert clf.segmenter is not None and clf.segmenter.bundle_dir == setup["bundles"][SEG_BUNDLE]
    assert answer["decision"] == rows[path.name]["decision"]


def test_a_model_folder_is_checked_when_loaded(setup, tmp_path):
    bundle = tmp_path / CLS_BUNDLE
    shutil.copytree(setup["bundles"][CLS_BUNDLE], bundle)
    (bundle / "models" / "classes.json").write_text('["positive", "negative"]')
    with pytest.raises(Exception, match="classes.json"):
        CovidClassifier(bundle, device="cpu")


def test_a_given_mask_brings_its_segmenters_disagreement_to_the_gate(setup):
    """A mask made elsewhere (the Deploy app's segmentation operator) comes with its test-time passes'
    disagreement: the gate judges it as its own segmenter's; without one that check is not made."""
    seg = LungSegmenter(setup["bundles"][SEG_BUNDLE], device="cpu")
    clf = CovidClassifier(setup["bundles"][CLS_BUNDLE], segmenter=seg, device="cpu")
    path = setup["images"][1]
    own, mask = clf(path), seg(path)
    given = clf.classify(path, mask, tta_disagreement=own["tta_disagreement"])
    assert isinstance(own["tta_disagreement"], float)
    assert {k: given[k] for k in own if k != "latencies"} == {k: own[k] for k in own if k != "latencies"}
    doubtful = clf.classify(path, mask, tta_disagreement=0.9)
    assert doubtful["decision"] == "abstain" and "tta_disagreement" in doubtful["not_assessed"]
    assert (
        "the segmenter's test-time passes disagree on the lungs (tta_disagreement 0.9 above 0.15"
        in doubtful["abstain_reason"]
    )
    assert clf.classify(path, mask)["tta_disagreement"] == ""  # not measured: not held against it


def test_the_readmes_python_lines_run_as_written(setup, monkeypatch):
    """The README's Python block, read from it and run as it stands, in a folder holding both bundles and
    a radiograph named as the block names it."""
    from documented import python_block

    root = setup["bundles"][SEG_BUNDLE].parents[1]
    shutil.copy2(setup["images"][0], root / "x.dcm")  # the real CR
    monkeypatch.chdir(root)
    names: dict = {}
    exec(compile(python_block("README.md"), "README.md", "exec"), names)  # noqa: S102 - the project's own README
    assert names["mask"].shape == read_cxr(root / "x.dcm")[0].shape and set(np.unique(names["mask"])) <= {0, 1}
    assert names["answer"]["decision"] in ("positive", "negative", "abstain") and "gate" in names["answer"]
