"""Data-list builders on the synthetic set, the real dev sample and the real COVIDx CXR-3 lists."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import shared_data

from monai_ext.errors import DataListError
from monai_ext.tools.data_lists import build_covid_qu_ex, build_covidx, grouped_stratified_split
from monai_ext.tools.data_lists.__main__ import main


def _patients(items):
    return {i["patient_id"] for i in items}


def test_covid_qu_ex_synthetic(synthetic_root, tmp_path, capsys):
    out = tmp_path / "seg.json"
    assert main(["covid-qu-ex", "--root", str(synthetic_root / "lung-seg"), "--out", str(out)]) == 0
    datalist = json.loads(out.read_text())
    assert datalist["classes"] == ["COVID-19", "Non-COVID", "Normal"]
    assert {k: sum(v.values()) for k, v in datalist["counts"].items()} == {"training": 9, "validation": 3, "test": 3}
    item = datalist["training"][0]
    assert set(item) == {"image", "lung", "label", "class_name", "patient_id", "source"}
    assert not Path(item["image"]).is_absolute() and (synthetic_root / "lung-seg" / item["lung"]).is_file()
    assert "training: 9 (COVID-19 3, Non-COVID 3, Normal 3)" in capsys.readouterr().out


def test_covid_qu_ex_without_test_folder_holds_a_test_split_out_of_train_when_asked(synthetic_root, tmp_path, capsys):
    root = tmp_path / "seg"
    shutil.copytree(synthetic_root / "lung-seg", root)
    with_test = build_covid_qu_ex(root, test_fraction=0.34)  # a Test folder: the fraction is not used
    assert len(with_test["test"]) == 3 and "held_out" not in with_test
    shutil.rmtree(root / "Test")
    assert build_covid_qu_ex(root)["test"] == []  # not asked: an empty test split
    out = tmp_path / "seg.json"
    argv = ["covid-qu-ex", "--root", str(root), "--out", str(out), "--test-fraction", "0.34", "--seed", "1"]
    assert main(argv) == 0
    datalist = json.loads(out.read_text())
    train, test = datalist["training"], datalist["test"]
    assert len(train) + len(test) == 9 and Counter(i["class_name"] for i in test) == Counter(
        {"COVID-19": 1, "Non-COVID": 1, "Normal": 1}
    )
    assert not {i["patient_id"] for i in train} & {i["patient_id"] for i in test}
    assert all(i["image"].startswith("Train/") for i in test) and datalist["missing_splits"] == []
    assert datalist["held_out"] == {"test": {"from": "training", "fraction": 0.34, "seed": 1}}
    assert "test split held out of training (34% by patient, seed 1)" in capsys.readouterr().out


def test_covid_qu_ex_reports_images_without_masks(synthetic_root, tmp_path):
    root = tmp_path / "seg"
    shutil.copytree(synthetic_root / "lung-seg", root)
    for mask in sorted((root / "Train" / "Normal" / "lung masks").glob("*.png"))[:2]:
        mask.unlink()
    with pytest.raises(DataListError, match=r"2 images without a lung mask: 'Train/Normal/images/"):
        build_covid_qu_ex(root)
    shutil.rmtree(root / "Train")
    with pytest.raises(DataListError, match="split folders missing"):
        build_covid_qu_ex(root)


def test_covidx_synthetic_binary_and_3class_with_masks(synthetic_root):
    root = synthetic_root / "covidx"
    binary = build_covidx(root, classes="binary", val_fraction=0.25, seed=1)
    three = build_covidx(root, classes="3class", val_fraction=0.25, seed=1, masks=synthetic_root / "covidx-lung-gt")
    assert binary["classes"] == ["negative", "positive"] and three["classes"] == ["normal", "pneumonia", "COVID-19"]
    for dl in (binary, three):
        assert not _patients(dl["training"]) & _patients(dl["validation"])
        assert not _patients(dl["training"]) & _patients(dl["test"])
        assert all(dl["validation"]) and all(i["image"].startswith("train/") for i in dl["validation"])
        assert all(i["image"].startswith("test/") for i in dl["test"])
    assert all((synthetic_root / "covidx-lung-gt" / i["lung"]).is_file() for i in three["training"])
    assert build_covidx(root, classes="binary", val_fraction=0.25, seed=1) == binary  # deterministic


def test_covidx_errors_name_rows(synthetic_root, tmp_path):
    root = tmp_path / "cx"
    shutil.copytree(synthetic_root / "covidx", root)
    rows = (root / "train.txt").read_text().splitlines()
    first_file = rows[0].split()[1]
    (root / "train" / first_file).unlink()
    with pytest.raises(DataListError, match=rf"1 rows whose image file is missing: 'train/{first_file}'"):
        build_covidx(root)
    dl = build_covidx(root, skip_missing=True)
    assert dl["skipped_missing"] == [f"train/{first_file}"]
    (root / "train.txt").write_text("\n".join(rows + [rows[1], "P1 x.png maybe src", "broken row"]) + "\n")
    with pytest.raises(DataListError) as info:
        build_covidx(root, check_files=False)
    text = str(info.value)
    assert "1 duplicate rows" in text and "1 rows with a class not in" in text and "1 rows without" in text
    test_pid = (root / "test.txt").read_text().split()[0]
    (root / "train.txt").write_text("\n".join(rows[1:] + [f"{test_pid} extra.png positive s"]) + "\n")
    with pytest.raises(DataListError, match="1 patients in both the train and test lists"):
        build_covidx(root, check_files=False)
    with pytest.raises(DataListError, match="no such folder"):
        build_covidx(tmp_path / "nowhere")


def test_covidx_holds_whole_sources_out_as_the_test_split(synthetic_root, tmp_path, capsys):
    root = synthetic_root / "covidx"
    published = build_covidx(root, val_fraction=0.2, seed=0)
    sources = sorted(published["sources"]["training"])
    held = sources[0]
    dl = build_covidx(root, val_fraction=0.2, seed=0, test_sources=[held])
    every = [i for s in ("training", "validation", "test") for i in published[s] if i["source"] == held]
    assert sorted(i["image"] for i in dl["test"]) == sorted(i["image"] for i in every)  # train and test lists alike
    for split in ("training", "validation", "test_in_source"):
        assert held not in dl["sources"][split] and not _patients(dl[split]) & _patients(dl["test"])
    assert sorted(i["image"] for i in dl["test_in_source"]) == sorted(
        i["image"] for i in published["test"] if i["source"] != held
    )
    with pytest.raises(DataListError, match=r"held-out sources that no row has .*nowhere"):
        build_covidx(root, test_sources=["nowhere"])
    out = tmp_path / "loso.json"
    assert main(["covidx", "--root", str(root), "--out", str(out), "--test-sources", held]) == 0
    printed = capsys.readouterr().out
    assert f"every image of {held}" in printed and "test_in_source:" in printed
    assert json.loads(out.read_text())["test_sources"] == [held]


def test_grouped_split_keeps_patients_whole_and_strata():
    items = [{"patient_id": f"p{i // 3}", "class_name": "a" if i < 60 else "b"} for i in range(120)]
    kept, held = grouped_stratified_split(items, 0.2, seed=0)
    assert len(kept) + len(held) == 120 and not _patients(kept) & _patients(held)
    per_class = Counter(i["class_name"] for i in held)
    assert 9 <= per_class["a"] <= 15 and 9 <= per_class["b"] <= 15


def test_covidx_real_published_lists(tmp_path):
    """The real CXR-3 lists (29,986 train / 400 test rows, 16,648 patients) with empty stand-in images."""
    labels = shared_data("covidx-cxr3-labels")
    root = tmp_path / "covidx"
    for split, name in (("train", "train_COVIDx_CXR-3B.txt"), ("test", "test_COVIDx_CXR-3B.txt")):
        (root / split).mkdir(parents=True)
        text = (labels / name).read_text()
        (root / f"{split}.txt").write_text(text)
        for line in text.splitlines():
            (root / split / line.split()[1]).touch()
    dl = build_covidx(root, classes="binary", val_fraction=0.1, seed=0)
    assert len(dl["training"]) + len(dl["validation"]) == 29986 and len(dl["test"]) == 400
    assert len(_patients(dl["training"]) | _patients(dl["validation"])) == 16648
    assert not _patients(dl["training"]) & _patients(dl["validation"])
    assert not (_patients(dl["training"]) | _patients(dl["validation"])) & _patients(dl["test"])
    val = dl["counts"]["validation"]
    assert 0.08 < sum(val.values()) / 29986 < 0.12
    assert abs(val["positive"] / sum(val.values()) - 15994 / 29986) < 0.05
    assert dl["counts"]["test"] == {"negative": 200, "positive": 200}
    assert dl["sources"]["test"] == {"ricord": 200, "rsna": 200}  # the confound the README warns of
    # leave-one-source-out: RICORD (all positives of the published test) held out whole
    loso = build_covidx(root, classes="binary", val_fraction=0.1, seed=0, test_sources=["ricord"])
    assert loso["sources"]["test"] == {"ricord": 896 + 200} and loso["test_sources"] == ["ricord"]
    assert loso["sources"]["test_in_source"] == {"rsna": 200}
    for split in ("training", "validation", "test_in_source"):
        assert "ricord" not in loso["sources"][split] and not _patients(loso[split]) & _patients(loso["test"])
    three = build_covidx(labels, classes="3class", check_files=False)  # the repository's file names, found by fallback
    assert sum(sum(c.values()) for c in (three["counts"]["training"], three["counts"]["validation"])) == 29634


def test_builders_on_the_real_dev_sample(tmp_path, capsys):
    dev = shared_data("cxr-dev")
    assert main(["covid-qu-ex", "--root", str(dev / "lung-seg"), "--out", str(tmp_path / "seg.json")]) == 0
    seg = json.loads((tmp_path / "seg.json").read_text())
    assert seg["counts"]["training"] == {"Non-COVID": 239, "Normal": 94}
    assert seg["counts"]["validation"] == {"Non-COVID": 61, "Normal": 21}
    assert seg["missing_splits"] == ["Test"]
    assert (
        main(["covidx", "--root", str(dev / "covidx"), "--out", str(tmp_path / "cx.json"), "--classes", "3class"]) == 0
    )
    cx = json.loads((tmp_path / "cx.json").read_text())
    assert sum(len(cx[s]) for s in ("training", "validation")) == 208 and len(cx["test"]) == 43
    out = capsys.readouterr().out
    assert "training: 333" in out and "test: 43" in out
