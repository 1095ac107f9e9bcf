"""The synthetic default dataset: layouts, formats, masks, class signal, and same seed -> same bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_ext.data import read_cxr
from monai_ext.tools.synthetic import CLASSES, make_phantom, write_synthetic_dataset
from monai_ext.tools.synthetic.__main__ import main


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path):
    assert main(["--out", str(tmp_path / "a"), "--n-seg", "15", "--n-cls", "12", "--size", "64", "--seed", "7"]) == 0
    write_synthetic_dataset(tmp_path / "b", 15, 12, 64, 7)
    write_synthetic_dataset(tmp_path / "c", 15, 12, 64, 8)
    a, b, c = (_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert a != c and {k for k in a if k.startswith("lung-seg")} == {k for k in c if k.startswith("lung-seg")}


def test_cli_refuses_too_small_sets(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--n-seg", "3"])
    assert "--n-seg must be >= 15" in capsys.readouterr().err


def test_covid_qu_ex_layout(synthetic_root):
    seg = synthetic_root / "lung-seg"
    for split in ("Train", "Val", "Test"):
        for cls in ("COVID-19", "Non-COVID", "Normal"):
            images = sorted((seg / split / cls / "images").glob("*.png"))
            assert images, f"{split}/{cls} is empty"
            for image in images:
                mask = seg / split / cls / "lung masks" / image.name
                m, meta = read_cxr(mask)
                assert meta["bit_depth"] == 8 and set(np.unique(m)) == {0.0, 1.0}
                assert read_cxr(image)[0].shape == m.shape == (64, 64)
    depths = {read_cxr(p)[1]["bit_depth"] for p in seg.rglob("images/*.png")}
    assert depths == {8, 16}


def test_covidx_layout_and_formats(synthetic_root):
    cx = synthetic_root / "covidx"
    binary = [line.split() for line in (cx / "train.txt").read_text().splitlines()]
    three = [line.split() for line in (cx / "train_3class.txt").read_text().splitlines()]
    assert [r[:2] + r[3:] for r in binary] == [r[:2] + r[3:] for r in three]
    mapping = {"COVID-19": "positive", "pneumonia": "negative", "normal": "negative"}
    assert all(b[2] == mapping[t[2]] for b, t in zip(binary, three))
    assert {t[2] for t in three} == set(CLASSES)
    seen = set()
    for split in ("train", "test"):
        for pid, name, _, source in (line.split() for line in (cx / f"{split}.txt").read_text().splitlines()):
            image, meta = read_cxr(cx / split / name)
            seen.add((meta["format"], meta.get("photometric_interpretation", meta.get("bit_depth"))))
            assert image.shape == (64, 64)
            assert (synthetic_root / "covidx-lung-gt" / split / (Path(name).stem + ".png")).is_file()
    assert seen == {("png", 8), ("png", 16), ("jpeg", 8), ("dicom", "MONOCHROME1"), ("dicom", "MONOCHROME2")}
    patients = [r[0] for r in binary]
    assert len(set(patients)) < len(patients), "some patients should have several images"


def test_class_signal_lies_inside_the_lungs():
    """Findings brighten the lungs; outside the lungs the classes look alike."""
    inside, outside = {c: [] for c in CLASSES}, {c: [] for c in CLASSES}
    for i in range(24):
        label = CLASSES[i % 3]
        p = make_phantom(np.random.default_rng(i), 96, label)
        assert p.lung.any() and p.image.dtype == np.float32 and 0 <= p.image.min() <= p.image.max() <= 1
        inside[label].append(p.image[p.lung].mean() - p.image[~p.lung].mean())
        outside[label].append(p.image[~p.lung].mean())
    assert np.mean(inside["COVID-19"]) > np.mean(inside["normal"]) + 0.02
    assert np.mean(inside["pneumonia"]) > np.mean(inside["normal"]) + 0.03
    spread = max(np.mean(v) for v in outside.values()) - min(np.mean(v) for v in outside.values())
    assert spread < 0.03


def test_two_hospitals_marker_tracks_the_label_in_the_first_only(tmp_path, capsys):
    from monai_ext.tools.data_lists import build_covidx
    from monai_ext.tools.synthetic.hospitals import HOSPITALS, burn_marker, write_two_hospitals

    assert main(["--out", str(tmp_path / "h"), "--two-hospitals", "--n-cls", "120", "--size", "64", "--seed", "3"]) == 0
    assert "hospital-a" in capsys.readouterr().out
    again = write_two_hospitals(tmp_path / "again", 120, 64, 3)
    assert _digest(tmp_path / "h") == _digest(tmp_path / "again")  # same seed, same bytes
    marker = burn_marker(np.zeros((64, 64))) > 0
    rows = [line.split() for line in (tmp_path / "h" / "covidx" / "train.txt").read_text().splitlines()]
    rows += [line.split() for line in (tmp_path / "h" / "covidx" / "test.txt").read_text().splitlines()]
    seen = {h: {"positive": [], "negative": []} for h in HOSPITALS}
    for _, name, label, hospital in rows:
        split = "test" if (tmp_path / "h" / "covidx" / "test" / name).is_file() else "train"
        image = np.asarray(Image.open(tmp_path / "h" / "covidx" / split / name))
        lung = np.asarray(Image.open(tmp_path / "h" / "covidx-lung-gt" / split / name)) > 0
        assert not (lung & marker).any()  # the marker is outside the lungs
        seen[hospital][label].append(bool((image[marker] == 255).all()))
    counts = again["markers"]
    for hospital, labels in seen.items():
        for label, marked in labels.items():
            assert counts[hospital][label] == {"marked": sum(marked), "n": len(marked)}
    rate = {h: {c: v["marked"] / v["n"] for c, v in counts[h].items()} for h in counts}
    assert rate["hospital-a"]["positive"] > 0.75 and rate["hospital-a"]["negative"] < 0.25  # tracks the label
    assert all(0.25 < r < 0.75 for r in rate["hospital-b"].values())  # does not
    dl = build_covidx(tmp_path / "h" / "covidx", val_fraction=0.2, test_sources=["hospital-b"])
    assert dl["sources"]["test"] == {"hospital-b": 60} and set(dl["sources"]["test_in_source"]) == {"hospital-a"}
