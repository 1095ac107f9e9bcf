"""The input gate and the recalibration through the classification bundle's documented commands: a decision
or `abstain` with its reasons per image, the gate's figures in evaluation, `--gate False`, and a site's
recalibration into a new, complete model folder that leaves the original as it was."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
from conftest import REPO, run_cli

from monai_ext.bundle import read_model_folder
from monai_ext.constants import CALIBRATION_FILE, GATE_FILE
from monai_ext.data import mask_name_for, read_cxr, write_png
from monai_ext.utils import file_sha256, read_csv

CONFIGS = REPO / "bundles" / "cxr_covid_classification" / "configs"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(synthetic_root, tmp_path_factory):
    """Upright synthetic radiographs with their true masks, and what the gate must refuse: a photograph, an
    inverted, a turned and an upside-down radiograph (each with the mask moved as its picture was)."""
    root = tmp_path_factory.mktemp("gate")
    images, masks = root / "in", root / "masks"
    images.mkdir()
    masks.mkdir()
    test, truth = synthetic_root / "covidx" / "test", synthetic_root / "covidx-lung-gt" / "test"
    sources = sorted(test.iterdir())[:4]
    for i, path in enumerate(sources[:3]):
        shutil.copy(path, images / f"upright{i}{path.suffix}")
        shutil.copy(truth / mask_name_for(path.name), masks / f"upright{i}.png")
    image = np.round(read_cxr(sources[3])[0] * 255).astype(np.uint8)
    mask = np.asarray(read_cxr(truth / mask_name_for(sources[3].name))[0] > 0.5, np.uint8) * 255
    for name, move in (("inverted", None), ("turned", np.rot90), ("upside_down", np.flipud)):
        write_png(255 - image if move is None else np.ascontiguousarray(move(image)), images / f"{name}.png")
        write_png(mask if move is None else np.ascontiguousarray(move(mask)), masks / f"{name}.png")
    photo = skimage.data.astronaut()[::8, ::8]
    write_png(np.ascontiguousarray(photo), images / "photo.png")
    write_png(mask, masks / "photo.png")  # a plausible mask: the picture's colour still says it is no radiograph
    return images, masks


def _infer(images, masks, models, out, *extra):
    run_cli(
        ["python", "-m", "monai.bundle", "run", "--config_file", str(CONFIGS / "inference.json"),
         "--dataset_dir", str(images), "--mask_dir", str(masks), "--ckpt_dir", str(models), "--output_dir", str(out),
         "--num_workers", "0", *extra]
    )  # fmt: skip
    return {r["name"]: r for r in read_csv(out / "predictions.csv")}


def test_the_gate_abstains_with_its_reasons_and_answers_on_upright_radiographs(folder, cls_models, tmp_path):
    images, masks = folder
    rows = _infer(images, masks, cls_models, tmp_path / "out")
    expected = {"inverted": "polarity", "turned": "turned by 90 degrees", "upside_down": "upside down",
                "photo": "colourfulness"}  # fmt: skip
    for name, words in expected.items():
        row = rows[f"{name}.png"]
        assert row["decision"] == "abstain" and row["gate"] == "abstain", row
        assert words in row["abstain_reason"] or (
            words == "polarity" and "brighter than the mediastinum" in row["abstain_reason"]
        )
    upright = [row for name, row in rows.items() if name.startswith("upright")]
    assert len(upright) == 3
    for row in upright:  # the picture's own checks pass on every upright radiograph
        assert not any(w in row["abstain_reason"] for w in ("mediastinum", "turned", "upside", "colour", "lung mask"))
        assert float(row["upright"]) > 0 and float(row["mediastinum_contrast"]) > 0 and row["ood_distance"]
    answered = [row for row in upright if row["gate"] == "answer"]
    assert answered and all(row["decision"] in ("negative", "positive") for row in answered)
    manifest = {r["input"]: r for r in read_csv(tmp_path / "out" / "manifest.csv")}
    assert manifest["photo.png"]["gate"] == "abstain"
    # off for research: a decision for every image, and the outputs say so
    off = _infer(images, masks, cls_models, tmp_path / "off", "--gate", "False")
    assert {r["gate"] for r in off.values()} == {"off"} and "abstain" not in {r["decision"] for r in off.values()}


def test_evaluation_reports_the_abstention_rate_and_abstentions_as_errors(cls_models, synthetic_root, tmp_path):
    datalist = cls_models.parent / "cls.json"  # the classifier's own data list (conftest)
    out = tmp_path / "eval"
    run_cli(
        ["python", "-m", "monai.bundle", "run", "evaluating", "--config_file",
         f"['{CONFIGS / 'train.json'}','{CONFIGS / 'evaluate.json'}']", "--dataset_dir", str(synthetic_root / "covidx"),
         "--mask_dir", str(synthetic_root / "covidx-lung-gt"), "--datalist", str(datalist),
         "--ckpt_dir", str(cls_models), "--output_dir", str(out), "--n_bootstrap", "50", "--num_workers", "0"]
    )  # fmt: skip
    overall = json.loads((out / "metrics.json").read_text())["overall"]
    gating, rows = overall["gating"], read_csv(out / "predictions.csv")
    abstained = sum(r["decision"] == "abstain" for r in rows)
    assert overall["gate"] == "on" and gating["abstention_rate"]["k"] == abstained
    assert gating["abstention_rate"]["n"] == len(rows) and len(gating["abstention_rate"]["ci95"]) == 2
    right = sum(r["decision"] == r["true"] for r in rows)  # an abstention is never right
    assert gating["abstain_as_error"]["accuracy"]["k"] == right
    assert {"gate", "gate_abstain_as_error"} <= {r["scope"] for r in read_csv(out / "metrics.csv")} | {
        r["class"] for r in read_csv(out / "metrics.csv")
    }


def test_recalibration_writes_a_new_complete_folder_and_never_touches_the_original(
    cls_models, synthetic_root, tmp_path
):
    from monai_ext.tools.data_lists import recalibration_split, write_datalist

    before = {p.name: file_sha256(p) for p in cls_models.iterdir() if p.is_file()}
    full = cls_models.parent / "cls.json"  # the classifier's own data list (conftest)
    local = tmp_path / "local.json"
    # the tiny dataset's training images stand in for a site's (its test split has six)
    write_datalist(recalibration_split(full, n=14, split="training", seed=0), local)
    site = json.loads(local.read_text())
    assert len(site["validation"]) + len(site["test"]) == len(json.loads(full.read_text())["training"])
    assert not {i["patient_id"] for i in site["validation"]} & {i["patient_id"] for i in site["test"]}
    command = [
        "python", "-m", "monai.bundle", "run", "recalibrate", "--config_file",
        f"['{CONFIGS / 'train.json'}','{CONFIGS / 'recalibrate.json'}']", "--dataset_dir", str(synthetic_root / "covidx"),
        "--mask_dir", str(synthetic_root / "covidx-lung-gt"), "--datalist", str(local), "--ckpt_dir", str(cls_models),
        "--num_workers", "0",
    ]  # fmt: skip
    new = tmp_path / "site_models"
    run_cli([*command, "--output_dir", str(new), "--min_images", "10", "--min_per_class", "3"])
    model = read_model_folder(new, "cxr_covid_classification")  # complete and consistent
    assert file_sha256(new / "model.pt") == before["model.pt"]
    calibration = json.loads((new / CALIBRATION_FILE).read_text())
    provenance = calibration["recalibration"]
    assert provenance["n_images"] == len(site["validation"]) and provenance["datalist_sha256"] == file_sha256(local)
    assert provenance["original"] == json.loads((cls_models / CALIBRATION_FILE).read_text())
    assert (
        model.gate["recalibration"]["original_threshold"]
        == json.loads((cls_models / GATE_FILE).read_text())["threshold"]
    )
    assert {p.name: file_sha256(p) for p in cls_models.iterdir() if p.is_file()} == before  # the original as it was
    card = (new / "MODEL_CARD.md").read_text()  # the new folder's card says what was done, and keeps the training data
    assert f"Recalibrated {provenance['date']} on {local.name} ({provenance['n_images']} images)" in card
    assert json.loads((cls_models / "settings.json").read_text())["training_data"]["datalist_sha256"] in card
    assert f"temperature {calibration['temperature']:.3f}" in card
    # a folder that is not empty is never written into; too few images of a class are refused
    import subprocess
    import sys

    again = subprocess.run(
        [sys.executable, *command[1:], "--output_dir", str(new)], capture_output=True, text=True, check=False
    )
    assert again.returncode != 0 and "is not empty" in again.stderr.splitlines()[-1]
    few = subprocess.run(
        [sys.executable, *command[1:], "--output_dir", str(tmp_path / "x")], capture_output=True, text=True, check=False
    )
    assert few.returncode != 0 and "recalibration needs at least 20" in few.stderr.splitlines()[-1]
    assert not (tmp_path / "x").exists()


def test_prior_shift_over_the_inference_estimates_the_sites_prior_and_changes_no_model(
    cls_models, synthetic_root, tmp_path
):
    """``configs/prior_shift.json`` over ``inference.json``: the site's unlabelled images inferred, their prior
    estimated from the calibrated one, each image's probability at it; the model folder as it was."""
    from monai_ext.constants import PRIOR_SHIFT_FILE, PRIOR_SHIFT_PREDICTIONS_FILE

    before = {p.name: file_sha256(p) for p in cls_models.iterdir() if p.is_file()}
    out = tmp_path / "site"
    run_cli(
        ["python", "-m", "monai.bundle", "run", "--config_file",
         f"['{CONFIGS / 'inference.json'}','{CONFIGS / 'prior_shift.json'}']",
         "--dataset_dir", str(synthetic_root / "covidx" / "train"),
         "--mask_dir", str(synthetic_root / "covidx-lung-gt" / "train"), "--ckpt_dir", str(cls_models),
         "--output_dir", str(out), "--num_workers", "0", "--gate", "False", "--min_images", "10"]
    )  # fmt: skip
    record = json.loads((out / PRIOR_SHIFT_FILE).read_text())
    rows = read_csv(out / "predictions.csv")
    validation = json.loads((cls_models / "settings.json").read_text())["training_data"]["splits"]["validation"]
    assert record["calibrated_prior"] == {c: round(k / validation["n"], 4) for c, k in validation["classes"].items()}
    assert record["n_images"] == len(rows) >= 10 and record["n_left_out"] == 0
    assert sum(record["site_prior"].values()) == pytest.approx(1.0, abs=1e-3)
    adjusted = read_csv(out / PRIOR_SHIFT_PREDICTIONS_FILE)
    assert [r["name"] for r in adjusted] == [r["name"] for r in rows]
    assert [r["prob_positive"] for r in adjusted] == [r["prob_positive"] for r in rows]
    assert {p.name: file_sha256(p) for p in cls_models.iterdir() if p.is_file()} == before


def test_the_gates_thresholds_are_fitted_as_documented(cls_models, synthetic_root, tmp_path):
    """The documented fit (the bundle's docs: python -m monai_ext.tools.fit_gate ...) on validation radiographs
    and their mild degradations, with the repository's segmentation bundle: every threshold in gate.json
    with its rate and images, the density part as it was, and the reasons of the fitted gate say so."""
    models = tmp_path / "models"
    shutil.copytree(cls_models, models)
    before = json.loads((models / GATE_FILE).read_text())
    log = run_cli(
        ["python", "-m", "monai_ext.tools.fit_gate", "--datalist", str(cls_models.parent / "cls.json"),
         "--dataset-dir", str(synthetic_root / "covidx"), "--cls-models", str(models),
         "--seg-bundle", str(REPO / "bundles" / "cxr_lung_segmentation"), "--work", str(tmp_path / "fit"),
         "--max-radiographs", "6"]
    )  # fmt: skip
    record = json.loads((models / GATE_FILE).read_text())
    assert {k: record[k] for k in before} == before  # the density, its threshold and hashes untouched
    fit = record["fit"]
    assert fit["radiographs"] == 6 and fit["n"] == 36 and fit["split"] == "validation"
    assert fit["refused"] <= fit["rate"] == 0.02 or fit["check_rate"] < 1 / 37
    assert "gate fitted on 36 images (6 validation radiographs" in log
    for name, t in record["thresholds"].items():
        if name == "colourfulness_max":  # PNG radiographs: every colourfulness 0
            assert t["threshold"] == 0.0
        assert t["n"] == 36 and t["rate"] == fit["check_rate"] and t["threshold"] is not None, name
    assert read_model_folder(models).gate["thresholds"] == record["thresholds"]
    # the fitted gate at work: a blurred radiograph is refused by its fitted detail threshold
    images = tmp_path / "blurred"
    images.mkdir()
    picture = read_cxr(min((synthetic_root / "covidx" / "test").glob("*.png")))[0]
    from scipy import ndimage

    write_png(np.round(ndimage.gaussian_filter(picture, 8) * 255).astype(np.uint8), images / "blurred.png")
    out = tmp_path / "out"
    run_cli(
        ["python", "-m", "monai.bundle", "run", "--config_file", str(CONFIGS / "inference.json"),
         "--dataset_dir", str(images), "--ckpt_dir", str(models), "--output_dir", str(out), "--num_workers", "0",
         "--seg_bundle_dir", str(REPO / "bundles" / "cxr_lung_segmentation")]
    )  # fmt: skip
    (row,) = read_csv(out / "predictions.csv")
    assert row["decision"] == "abstain" and "detail" in row["gate_checks"].split("; ")
    assert "blurred or without fine detail" in row["abstain_reason"] and ", fitted)" in row["abstain_reason"]
