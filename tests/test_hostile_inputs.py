"""Hostile inputs through the documented CLI: pixels that are not numbers, headers that claim huge images or
break pydicom, file names too long for their outputs or written like spreadsheet formulas, mask manifests
that point outside their folder, a run killed mid-batch over an earlier one, two runs into one folder, and
model folders whose files lie. Per file: what was written, or why it was skipped; no input byte changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from checkout import bundle_source
from conftest import REPO, run_cli
from pydicom.data import get_testdata_file

from monai_ext.data import claim_output_dir, finish_output_dir, read_cxr, run_status, write_dicom_cr, write_png
from monai_ext.errors import CXRReadError
from monai_ext.utils import read_csv

SEG = REPO / "bundles" / "cxr_lung_segmentation" / "configs"
CLS = REPO / "bundles" / "cxr_covid_classification" / "configs"
pytestmark = pytest.mark.slow
#: an input name that makes every output name too long for the file system (its collision twin gets ".dcm.png")
LONG = "a" * 249


def _digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _dicom(folder: Path, name: str, image: np.ndarray, **header) -> Path:
    path = folder / name
    write_dicom_cr(image, path, monochrome1=False, uid_seed=name)
    ds = pydicom.dcmread(path)
    for key, value in header.items():
        setattr(ds, key, value)
    ds.save_as(path)
    return path


@pytest.fixture(scope="module")
def radiograph(synthetic_root) -> np.ndarray:
    return read_cxr(synthetic_root / "lung-seg" / "Test" / "Normal" / "images" / "Normal (13).png")[0]


@pytest.fixture(scope="module")
def hostile(radiograph, tmp_path_factory) -> Path:
    """A folder of good radiographs and hostile ones; the names say which."""
    folder = tmp_path_factory.mktemp("hostile") / "in"
    folder.mkdir()
    eight = np.round(radiograph * 255).astype(np.uint8)
    write_png(eight, folder / "good.png")
    write_png(eight, folder / "=HYPERLINK(x).png")  # a name a spreadsheet would run
    write_png(eight, folder / "+1.png")
    write_png(eight, folder / "-2.png")
    write_png(eight, folder / "@sum.png")
    write_png(eight, folder / f"{LONG}.png")  # alone: a 253-byte mask name; with its twin: 257 bytes
    _dicom(folder, f"{LONG}.dcm", radiograph)
    _dicom(folder, "nan_slope.dcm", radiograph, RescaleSlope="NaN")
    _dicom(folder, "nan_window.dcm", radiograph, WindowCenter="NaN")
    _dicom(folder, "sigmoid_width0.dcm", radiograph, WindowWidth=0, VOILUTFunction="SIGMOID")
    huge = pydicom.dcmread(get_testdata_file("MR_small_RLE.dcm"))
    huge.Rows = huge.Columns = 16384  # a few KB that claim 268 Mpx
    huge.save_as(folder / "huge_rle.dcm")
    data = bytearray(_dicom(folder, "meta.dcm", radiograph).read_bytes())
    at = data.find(b"\x02\x00\x00\x00UL")  # the file-meta group length: its value length set to 3 bytes
    data[at + 6 : at + 8] = (3).to_bytes(2, "little")
    (folder / "meta.dcm").write_bytes(bytes(data))
    return folder


def _segment(folder: Path, models: Path, out: Path, check: bool = True):
    args = ["python", "-m", "monai.bundle", "run", "--config_file", str(SEG / "inference.json"),
            "--dataset_dir", str(folder), "--output_dir", str(out), "--ckpt_dir", str(models),
            "--num_workers", "0"]  # fmt: skip
    if check:
        return run_cli(args)
    return subprocess.run([sys.executable, *args[1:]], capture_output=True, text=True, cwd=REPO, check=False)


EXPECTED_SKIPS = {
    "nan_slope.dcm": "pixel(s) are not finite numbers",
    "nan_window.dcm": "pixel(s) are not finite numbers",
    "sigmoid_width0.dcm": "Window Width 0.0 with VOI LUT Function SIGMOID: it must be above 0",
    "huge_rle.dcm": "header claims 16384 x 16384 = 268 Mpx, above the 67 Mpx",
    "meta.dcm": "broken DICOM file",
    f"{LONG}.png": "mask not written (File name too long)",
    f"{LONG}.dcm": "mask not written (File name too long)",
}


def test_segmentation_writes_or_skips_each_hostile_file_and_the_batch_goes_on(hostile, seg_models, tmp_path):
    before = _digest(hostile)
    out = tmp_path / "masks"
    log = _segment(hostile, seg_models, out)
    rows = {r["input"]: r for r in read_csv(out / "manifest.csv")}
    for name, words in EXPECTED_SKIPS.items():
        assert rows[name]["status"] == "skipped" and words in rows[name]["reason"], rows[name]
    written = {"good.png", "=HYPERLINK(x).png", "+1.png", "-2.png", "@sum.png"}
    assert {n for n, r in rows.items() if r["status"] == "written"} == written
    for name in written:  # names read back as they are; each mask is where its row says
        assert (out / rows[name]["output"]).is_file()
    raw = (out / "manifest.csv").read_text()
    assert "\n'=HYPERLINK(x).png," in raw and "\n'+1.png," in raw and "\n'@sum.png," in raw  # escaped cells
    assert "ERROR" not in log and "Traceback" not in log  # one line per skipped file: the project's reason
    assert run_status(out)["status"] == "complete"
    assert _digest(hostile) == before  # not one input byte changed


def test_pixels_that_are_not_numbers_are_a_read_error_of_the_file(hostile):
    for name, words in (("nan_slope.dcm", "RescaleSlope NaN"), ("nan_window.dcm", "WindowCenter NaN")):
        with pytest.raises(CXRReadError) as raised:
            read_cxr(hostile / name)
        message = str(raised.value)
        assert message.startswith(str(hostile / name)) and "not finite" in message and words in message
    with pytest.raises(CXRReadError, match="invalid Modality/VOI LUT attributes .*Window Width 0.0"):
        read_cxr(hostile / "sigmoid_width0.dcm")


def test_a_memory_error_on_one_input_is_a_skip_of_that_input(hostile, monkeypatch):
    import monai_ext.data.image_reader as reader
    from monai_ext.data import readable_items
    from monai_ext.data.inputs import InputScan

    real = reader._read_pil

    def starved(path, fmt):
        if Path(path).name == "+1.png":
            raise MemoryError
        return real(path, fmt)

    monkeypatch.setattr(reader, "_read_pil", starved)
    scan = InputScan()
    items = readable_items([{"image": str(hostile / n), "name": n} for n in ("good.png", "+1.png")], scan=scan)
    assert [i["name"] for i in items] == ["good.png"]
    assert scan.skipped == [{"input": "+1.png", "reason": "not enough memory to decode it"}]


#: a child interpreter that segments a folder and dies (``os._exit``, no clean-up) while writing the nth mask
_KILL_AFTER = """
import os, sys
from monai.bundle import run
import monai_ext.transforms.mask.array as masks

n_masks, folder, models, out, config = int(sys.argv[1]), *sys.argv[2:]
real, calls = masks.write_png, {"n": 0}

def write_then_die(array, path):
    calls["n"] += 1
    if calls["n"] == n_masks:
        os._exit(86)
    real(array, path)

masks.write_png = write_then_die
run(config_file=config, dataset_dir=folder, output_dir=out, ckpt_dir=models, num_workers=0)
"""


def test_a_run_killed_midway_over_an_earlier_one_leaves_a_true_manifest(synthetic_root, seg_models, tmp_path):
    folder = synthetic_root / "covidx" / "test"
    out = tmp_path / "masks"
    _segment(folder, seg_models, out)  # a complete earlier run
    earlier = {r["input"] for r in read_csv(out / "manifest.csv") if r["status"] == "written"}
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER, "4", str(folder), str(seg_models), str(out), str(SEG / "inference.json")],
        capture_output=True, text=True, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert killed.returncode == 86, killed.stderr[-3000:]
    rows = read_csv(out / "manifest.csv")
    assert len([r for r in rows if r["status"] == "written"]) == 3 < len(earlier)  # the three it finished
    assert run_status(out)["status"] == "interrupted"
    # classification with these masks takes the three, and never an earlier run's mask left on disk
    from monai_ext.data import scan_classification_inputs

    scan = scan_classification_inputs(folder, mask_dir=out, output_dir=tmp_path / "cls", missing_mask="skip")
    assert len(scan.items) == 3 and {i["mask_source"] for i in scan.items} == {"file"}
    assert all("no lung mask in" in s["reason"] for s in scan.skipped)


def test_a_second_run_into_a_held_folder_is_refused_and_a_dead_holder_is_taken_over(hostile, seg_models, tmp_path):
    out = tmp_path / "masks"
    claim_output_dir(out)  # a live job: this test process
    try:
        proc = _segment(hostile, seg_models, out, check=False)
    finally:
        finish_output_dir(out)
    assert proc.returncode != 0
    last = proc.stderr.rstrip().splitlines()[-1]
    assert last.startswith("cxr-monai error (OutputDirBusyError)") and f"writing here: process {os.getpid()}" in last
    assert not (out / "manifest.csv").exists()
    # a job whose process is gone: its lock is free, the next run takes the folder
    code = "import os, sys; from monai_ext.data import claim_output_dir; claim_output_dir(sys.argv[1]); os._exit(9)"
    assert subprocess.run([sys.executable, "-c", code, str(out)], check=False).returncode == 9
    assert run_status(out)["status"] == "interrupted"
    log = _segment(hostile, seg_models, out)
    assert "did not finish" in log and run_status(out)["status"] == "complete"


def test_a_mask_manifest_that_points_outside_its_folder_is_refused_per_image(synthetic_root, tmp_path):
    from monai_ext.data import mask_name_for, scan_classification_inputs
    from monai_ext.utils import write_csv

    folder = synthetic_root / "covidx" / "test"
    names = sorted(p.name for p in folder.iterdir())[:3]
    truth = synthetic_root / "covidx-lung-gt" / "test"
    masks = tmp_path / "masks"
    masks.mkdir()
    secret = tmp_path / "secret.png"
    shutil.copy(truth / mask_name_for(names[0]), secret)
    shutil.copy(truth / mask_name_for(names[2]), masks / "kept.png")
    write_csv(
        [[names[0], "written", str(secret), ""], [names[1], "written", "../secret.png", ""],
         [names[2], "written", "kept.png", ""]],
        masks / "manifest.csv", ["input", "status", "output", "reason"],
    )  # fmt: skip
    scan = scan_classification_inputs(folder, mask_dir=masks, output_dir=tmp_path / "out", missing_mask="skip")
    reasons = {s["input"]: s["reason"] for s in scan.skipped}
    assert "is absolute" in reasons[names[0]] and "leaves its root" in reasons[names[1]]
    assert [i["name"] for i in scan.items if i["mask_source"] == "file"] == [names[2]]


def _classify(folder: Path, models: Path, out: Path, *extra: str, check: bool = True):
    args = ["python", "-m", "monai.bundle", "run", "--config_file", str(CLS / "inference.json"),
            "--dataset_dir", str(folder), "--output_dir", str(out), "--ckpt_dir", str(models), *extra]  # fmt: skip
    if check:
        return run_cli(args)
    return subprocess.run([sys.executable, *args[1:]], capture_output=True, text=True, cwd=REPO, check=False)


def test_classification_csvs_escape_formula_names_and_overlays_never_share_a_file(
    hostile, cls_models, seg_models, radiograph, tmp_path
):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.png", "=cmd.png", "-2.png"):
        shutil.copy(hostile / "good.png", folder / name)
    _dicom(folder, "x.dcm", 1.0 - radiograph)  # another picture under the same simple name
    seg = bundle_source(SEG.parent.name, tmp_path)  # lung masks on the fly: the saliency's in-lung share needs them
    shutil.copytree(seg_models, seg / "models", dirs_exist_ok=True)
    out = tmp_path / "out"
    _classify(folder, cls_models, out, "--saliency", "True", "--seg_bundle_dir", str(seg))
    predictions = {r["name"]: r for r in read_csv(out / "predictions.csv")}
    assert set(predictions) == {"x.png", "x.dcm", "=cmd.png", "-2.png"}
    assert "\n'=cmd.png," in (out / "predictions.csv").read_text()
    saliency = {r["name"]: r for r in read_csv(out / "saliency.csv")}
    assert saliency["x.png"]["map"] != saliency["x.dcm"]["map"]  # each row its own overlay
    assert (out / saliency["x.png"]["map"]).read_bytes() != (out / saliency["x.dcm"]["map"]).read_bytes()
    assert {r["input"] for r in read_csv(out / "manifest.csv")} == set(predictions)


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        ("classes.json", ["positive", "negative"], "the class names differ between the model's files"),
        ("calibration.json", {"threshold": "0.5"}, 'threshold = "0.5": must be a number or null'),
        ("calibration.json", {"temperature": 1e6}, "temperature = 1000000.0: must be at most 20.0"),
        ("settings.json", {"image_size": 40000}, "image_size = 40000: must be at most 2048"),
        ("settings.json", {"crop_to_lung": "false"}, 'crop_to_lung = "false": must be a boolean'),
    ],
)
def test_a_lying_model_folder_is_refused_before_any_image_is_read(
    hostile, cls_models, tmp_path, file, change, expected
):
    import json

    models = tmp_path / "models"
    shutil.copytree(cls_models, models)
    content = json.loads((models / file).read_text())
    content = change if isinstance(change, list) else {**content, **change}
    (models / file).write_text(json.dumps(content))
    proc = _classify(hostile, models, tmp_path / "out", check=False)
    assert proc.returncode != 0
    last = proc.stderr.rstrip().splitlines()
    summary = next(i for i, line in enumerate(last) if line.startswith("cxr-monai error (ModelSettingsError)"))
    assert expected in "\n".join(last[summary:]) and str(models / file) in "\n".join(last[summary:])
    assert "Traceback" not in "\n".join(last[summary:])  # the project's message is the end of the output
    assert not (tmp_path / "out").exists()  # refused before the output folder was claimed
