"""A folder as users have them (good radiographs, broken files, name collisions, link loops, blank and
tiny images, compressed DICOM) through the documented commands: every file is either written or skipped
with its reason, no output replaces an input, and no input byte changes."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from checkout import bundle_source
from conftest import REPO, run_cli
from PIL import Image
from pydicom.data import get_testdata_file

from monai_ext.data import (
    OutputCollisionError,
    image_shape,
    output_names,
    read_cxr,
    readable_items,
    refuse_outputs_over_inputs,
    write_png,
)
from monai_ext.data.inputs import InputScan
from monai_ext.errors import DataListError
from monai_ext.tools.data_lists import build_covid_qu_ex, build_covidx
from monai_ext.transforms import lung_mask_quality

pytestmark = pytest.mark.slow  # runs the bundles' command lines (seconds to a minute each)

SEG = REPO / "bundles" / "cxr_lung_segmentation"
CLS = REPO / "bundles" / "cxr_covid_classification"
#: compressed DICOM of pydicom-data, one per transfer syntax a PACS sends
COMPRESSED = {
    "j2k_lossless.dcm": "RG1_J2KR.dcm",  # JPEG 2000 lossless, the real chest CR
    "j2k_lossy.dcm": "RG1_J2KI.dcm",  # JPEG 2000
    "jpeg_lossless_sv1.dcm": "JPEG-LL.dcm",  # JPEG Lossless Process 14 SV1, 16-bit
    "jpeg_lossless_sv1_8bit.dcm": "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "jpeg_extended_12bit.dcm": "JPGExtended.dcm",  # JPEG Extended (Process 2 and 4), 12-bit
    "jpeg_ls.dcm": "MR_small_jpeg_ls_lossless.dcm",
    "rle.dcm": "MR_small_RLE.dcm",
}
SKIPPED = {  # file -> words its reason must contain
    "broken.png": "unknown format",
    "truncated.png": "broken or truncated",
    "loop_a.png": "symbolic link loop",
    "loop_b.png": "symbolic link loop",
    "dangling.png": "dangling symbolic link",
    "outside.png": "outside the dataset folder",
    "black.png": "blank image",
    "tiny.png": "1x1 pixels",
}
WRITTEN = {
    "x.png": "x.png.png",
    "x.dcm": "x.dcm.png",
    "x.jpg": "x.jpg.png",
    "sub/y.png": "sub/y.png",
    **{name: name[:-4] + ".png" for name in COMPRESSED},
}


def _tree_digest(folder: Path, skip: str = "masks") -> dict[str, str]:
    """sha256 of every file (links by their target text) under ``folder``, outputs folder left out."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if rel.split(os.sep)[0] == skip or path.is_dir():
            continue
        out[rel] = "link:" + os.readlink(path) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def mixed(synthetic_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    folder = root / "mix"
    (folder / "sub").mkdir(parents=True)
    png = synthetic_root / "lung-seg" / "Test" / "Normal" / "images" / "Normal (13).png"
    shutil.copy(png, folder / "x.png")
    Image.open(png).convert("L").save(folder / "x.jpg", quality=95)
    shutil.copy(min((synthetic_root / "covidx" / "train").glob("*.dcm")), folder / "x.dcm")
    shutil.copy(png, folder / "sub" / "y.png")
    for name, source in COMPRESSED.items():
        shutil.copy(get_testdata_file(source), folder / name)
    (folder / "broken.png").write_text("not an image")
    (folder / "truncated.png").write_bytes(png.read_bytes()[:200])
    os.symlink("loop_b.png", folder / "loop_a.png")
    os.symlink("loop_a.png", folder / "loop_b.png")
    os.symlink("gone.png", folder / "dangling.png")
    shutil.copy(png, root / "elsewhere.png")
    os.symlink(root / "elsewhere.png", folder / "outside.png")
    write_png(np.zeros((64, 64), np.uint8), folder / "black.png")
    write_png(np.full((1, 1), 128, np.uint8), folder / "tiny.png")
    return folder


def _segment(mixed: Path, seg_models: Path, output_dir: Path, check: bool = True):
    import subprocess
    import sys

    args = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(SEG / "configs" / "inference.json"),
        "--dataset_dir",
        str(mixed),
        "--output_dir",
        str(output_dir),
        "--ckpt_dir",
        str(seg_models),
        "--image_size",
        "32",
        "--num_workers",
        "0",
    ]
    if check:
        return run_cli(args)
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)


def _manifest(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "manifest.csv", newline="") as f:
        return {row["input"]: row for row in csv.DictReader(f)}


def test_output_folder_equal_to_the_input_folder_is_refused_before_anything_is_written(mixed, seg_models):
    before = _tree_digest(mixed)
    proc = _segment(mixed, seg_models, mixed, check=False)
    assert proc.returncode != 0
    assert f"output_dir {mixed} is the input folder dataset_dir {mixed}" in proc.stdout + proc.stderr
    assert _tree_digest(mixed) == before and not (mixed / "manifest.csv").exists()


def test_segmentation_over_a_mixed_folder_writes_or_explains_every_file(mixed, seg_models):
    before = _tree_digest(mixed)
    out = mixed / "masks"  # inside the input folder: allowed, and never read back as input
    log = _segment(mixed, seg_models, out)
    manifest = _manifest(out)
    assert set(manifest) == set(WRITTEN) | set(SKIPPED)
    for name, output in WRITTEN.items():
        row = manifest[name]
        assert (row["status"], row["output"], row["reason"]) == ("written", output, ""), row
        mask = np.asarray(Image.open(out / output))
        assert mask.shape == image_shape(mixed / name) and set(np.unique(mask)) <= {0, 255}
        assert float(row["lung_fraction"]) == pytest.approx((mask > 0).mean(), abs=1e-4)
        assert row["mask_flags"] == lung_mask_quality(mask > 0)["mask_flags"]
    for name, words in SKIPPED.items():
        assert manifest[name]["status"] == "skipped" and words in manifest[name]["reason"], manifest[name]
        assert name in log
    assert "8 of 19 inputs skipped" in log
    assert _tree_digest(mixed) == before  # not one input byte changed

    # a second run over the same folder: the masks are outputs, never inputs
    _segment(mixed, seg_models, out)
    assert set(_manifest(out)) == set(manifest) and not (out / "masks").exists()


def test_classification_reports_missing_masks_by_name_and_records_where_masks_came_from(
    mixed, seg_models, synthetic_root, tmp_path
):
    from monai_ext.tools.data_lists import write_datalist

    masks = tmp_path / "masks"
    _segment(mixed, seg_models, masks)
    (masks / "sub" / "y.png").unlink()  # one image without its mask
    bundle = bundle_source(SEG.name, tmp_path)  # the segmentation bundle with weights, for on-the-fly masks
    shutil.copy(seg_models / "model.pt", bundle / "models" / "model.pt")
    write_datalist(
        build_covidx(
            synthetic_root / "covidx",
            classes="binary",
            val_fraction=0.2,
            seed=0,
            masks=synthetic_root / "covidx-lung-gt",
        ),
        tmp_path / "cls.json",
    )
    run_cli(
        [
            "python",
            "-m",
            "monai.bundle",
            "run",
            "training",
            "--config_file",
            str(CLS / "configs" / "train.json"),
            "--dataset_dir",
            str(synthetic_root / "covidx"),
            "--mask_dir",
            str(synthetic_root / "covidx-lung-gt"),
            "--datalist",
            str(tmp_path / "cls.json"),
            "--output_dir",
            str(tmp_path / "cls"),
            "--ckpt_dir",
            str(tmp_path / "cls_models"),
            "--image_size",
            "32",
            "--batch_size",
            "8",
            "--max_epochs",
            "1",
            "--num_workers",
            "0",
        ]
    )
    before = _tree_digest(mixed)
    common = [
        "python",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(CLS / "configs" / "inference.json"),
        "--dataset_dir",
        str(mixed),
        "--mask_dir",
        str(masks),
        "--ckpt_dir",
        str(tmp_path / "cls_models"),
        "--seg_bundle_dir",
        str(bundle),
        "--image_size",
        "32",
        "--input_mode",
        "lung",
    ]
    log = run_cli([*common, "--output_dir", str(tmp_path / "skip"), "--missing_mask", "skip"])
    skipped = _manifest(tmp_path / "skip")
    assert skipped["sub/y.png"]["status"] == "skipped" and "no lung mask in" in skipped["sub/y.png"]["reason"]
    assert "sub/y.png" in log
    with open(tmp_path / "skip" / "predictions.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(WRITTEN) - {"sub/y.png"}
    assert {r["mask_source"] for r in rows.values()} == {"file"}
    # masks of the collision trio were found through the manifest, each its own
    assert {rows[n]["mask_flags"] for n in ("x.png", "x.dcm", "x.jpg")} <= {
        lung_mask_quality(np.asarray(Image.open(masks / WRITTEN[n])) > 0)["mask_flags"]
        for n in ("x.png", "x.dcm", "x.jpg")
    }

    run_cli([*common, "--output_dir", str(tmp_path / "predict"), "--missing_mask", "predict"])
    with open(tmp_path / "predict" / "predictions.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert (
        rows["sub/y.png"]["mask_source"] == "predicted"
        and _manifest(tmp_path / "predict")["sub/y.png"]["status"] == "written"
    )
    assert _tree_digest(mixed) == before


def test_covidx_rows_that_leave_the_root_are_refused_when_the_list_is_built(synthetic_root, tmp_path):
    root = tmp_path / "covidx"
    shutil.copytree(synthetic_root / "covidx", root)
    (tmp_path / "mix").mkdir()
    shutil.copy(next((root / "train").glob("*.png")), tmp_path / "mix" / "good_a.png")
    with open(root / "train.txt", "a") as f:
        f.write("P999 ../../../mix/good_a.png positive rsna\n")
    with pytest.raises(
        DataListError, match=r"rows whose path leaves the root .*'train/\.\./\.\./\.\./mix/good_a\.png'"
    ):
        build_covidx(root)
    # a link inside the root that points outside it: the same rule
    lines = (root / "train.txt").read_text().splitlines()[:-1]
    os.symlink(tmp_path / "mix" / "good_a.png", root / "train" / "linked.png")
    (root / "train.txt").write_text("\n".join([*lines, "P999 linked.png positive rsna"]) + "\n")
    with pytest.raises(DataListError, match=r"rows whose path leaves the root .*'train/linked\.png'"):
        build_covidx(root)
    scan = InputScan()
    from monai_ext.data import find_cxr_images

    names = [item["name"] for item in find_cxr_images(root / "train", scan=scan)]
    assert "linked.png" not in names and scan.skipped[0]["input"] == "linked.png"
    assert "outside the dataset folder" in scan.skipped[0]["reason"]


def test_covid_qu_ex_mask_of_another_shape_is_refused_sizes_may_differ(synthetic_root, tmp_path):
    root = tmp_path / "qu"
    shutil.copytree(synthetic_root / "lung-seg", root)
    masks = sorted((root / "Train" / "Normal" / "lung masks").glob("*.png"))
    write_png(np.zeros((100, 60), np.uint8), masks[0])  # 64x64 image, 100x60 mask
    write_png(
        np.zeros((256, 256), np.uint8), masks[1]
    )  # same shape, other size: fine (as 299 vs 256 in COVID-19 Radiography)
    with pytest.raises(DataListError) as error:
        build_covid_qu_ex(root)
    message = str(error.value)
    assert "1 pairs whose image and mask aspect ratios differ by more than 2%" in message
    assert f"Train/Normal/images/{masks[0].name}" in message and "64x64 vs 100x60" in message
    assert masks[1].name not in message


def test_an_os_error_on_one_input_is_reported_and_the_rest_go_on(synthetic_root, monkeypatch):
    import monai_ext.data.image_reader as reader

    good = sorted((synthetic_root / "covidx" / "test").iterdir())[:3]
    real_open = open

    def guarded(path, *args, **kwargs):  # root reads every file, so the denial is simulated
        if Path(path) == good[1]:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(reader, "open", guarded, raising=False)
    scan = InputScan()
    items = readable_items([{"image": str(p), "name": p.name} for p in good], scan=scan)
    assert [i["name"] for i in items] == [good[0].name, good[2].name]
    assert scan.skipped == [{"input": good[1].name, "reason": "cannot be read (Permission denied)"}]


def test_output_names_keep_the_simple_case_and_part_collisions():
    names = output_names(["a.dcm", "x.png", "x.dcm", "x.jpg", "sub/x.png", "IM0001", "IM0001.png"])
    assert names["a.dcm"] == "a.png" and names["sub/x.png"] == "sub/x.png"
    assert [names[n] for n in ("x.png", "x.dcm", "x.jpg")] == ["x.png.png", "x.dcm.png", "x.jpg.png"]
    assert len(set(names.values())) == len(names)
    assert output_names(["b.dcm", "a.dcm"]) == {"a.dcm": "a.png", "b.dcm": "b.png"}


def test_outputs_over_inputs_are_refused(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    with pytest.raises(OutputCollisionError, match="is the input folder"):
        refuse_outputs_over_inputs(tmp_path / "in", {"a.dcm": "a.png"}, [tmp_path / "in" / "a.dcm"], tmp_path / "in")
    with pytest.raises(OutputCollisionError, match=r"would overwrite 1 input\(s\)"):
        refuse_outputs_over_inputs(
            tmp_path / "in" / "..", {"in/a.dcm": "in/a.png"}, [tmp_path / "in" / "a.png"], tmp_path / "other"
        )


def test_mask_quality_against_hand_computed_values():
    mask = np.zeros((10, 20), bool)
    mask[2:8, 2:6] = True  # left lung: 24 px
    mask[2:8, 12:18] = True  # right lung: 36 px
    two_lungs = {"lung_fraction": 0.3, "lung_regions": 2, "left_right_ratio": round(24 / 36, 3), "mask_flags": ""}
    assert lung_mask_quality(mask) == two_lungs
    one = np.zeros((10, 20), bool)
    one[2:8, 2:6] = True
    q = lung_mask_quality(one)
    assert q["lung_regions"] == 1 and q["left_right_ratio"] == 0.0
    assert q["mask_flags"] == "1 lung regions (2 expected); left/right area ratio 0.00 (below 0.3)"
    full = lung_mask_quality(np.ones((4, 4), bool))
    assert "lung fraction 100.0% outside 5-60%" in full["mask_flags"]
    speck = mask.copy()
    speck[9, 9] = True  # one pixel: under 2% of the mask, not a lung region
    assert lung_mask_quality(speck)["lung_regions"] == 2
    # a large mask is checked on every n-th row and column: the same figures as at its own size
    large = np.kron(mask, np.ones((300, 300), bool))  # 3000 x 6000
    assert lung_mask_quality(large) == two_lungs


@pytest.mark.parametrize(
    ("compressed", "twin", "exact"),
    [
        ("RG1_J2KR.dcm", "RG1_UNCR.dcm", True),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm", True),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", True),
        ("MR_small_RLE.dcm", "MR_small.dcm", True),
        ("MR2_J2KR.dcm", "MR2_UNCR.dcm", True),
        ("RG1_J2KI.dcm", "RG1_UNCR.dcm", False),
        ("JPGExtended.dcm", "JPEG-LL.dcm", False),  # 12-bit lossy against the lossless JPEG of the same image
    ],
)
def test_compressed_dicom_decodes_as_its_uncompressed_twin(compressed, twin, exact):
    image, meta = read_cxr(get_testdata_file(compressed))
    reference, _ = read_cxr(get_testdata_file(twin))
    assert image.shape == reference.shape and meta["format"] == "dicom"
    if exact:
        np.testing.assert_array_equal(image, reference)
    else:
        assert np.abs(image - reference).mean() < 0.01
        assert np.corrcoef(image.ravel(), reference.ravel())[0, 1] > 0.98


def test_twelve_bit_jpeg_extended_matches_pydicom_reference_pixels():
    """pydicom's own reference values for JPGExtended.dcm (its pixel tests), decoded here by GDCM."""
    import pydicom

    from monai_ext.data.image_reader import _decode_pixels

    path = Path(get_testdata_file("JPGExtended.dcm"))
    raw = _decode_pixels(path, pydicom.dcmread(path))
    assert raw.shape == (1024, 256) and raw[420, 140] == 244 and raw[230, 120] == 95
    assert raw.max() < 4096  # 12-bit values
