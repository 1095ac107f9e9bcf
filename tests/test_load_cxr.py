"""LoadCXR / LoadCXRd: PNG, JPEG and DICOM to the same [0, 1] picture; clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_ext.data import read_cxr, write_dicom_cr, write_png
from monai_ext.errors import CXRReadError
from monai_ext.transforms import LoadCXR, LoadCXRd


@pytest.fixture(scope="module")
def rg1_display(rg1_paths) -> np.ndarray:
    return LoadCXR()(rg1_paths["UNCR"])[0].numpy()


def test_rg1_dicom_is_windowed_and_inverted(rg1_paths, rg1_display):
    img = LoadCXR()(rg1_paths["UNCR"])
    assert isinstance(img, MetaTensor) and img.dtype == torch.float32
    assert tuple(img.shape) == (1, 1955, 1841)
    assert img.meta["format"] == "dicom" and img.meta["photometric_interpretation"] == "MONOCHROME1"
    assert img.meta["filename_or_obj"] == str(rg1_paths["UNCR"])
    assert list(img.meta["spatial_shape"]) == [1955, 1841]
    assert "pixel_spacing" not in img.meta  # the header's PixelSpacing is 0\0: not a spacing
    # the DICOM pipeline by hand: stored values -> window 15000/30000 (LINEAR) -> MONOCHROME1 inverted
    ds = pydicom.dcmread(rg1_paths["UNCR"])
    raw = ds.pixel_array.astype(np.float64)
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    expected = 1.0 - np.clip((raw - (c - 0.5)) / (w - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(rg1_display, expected, atol=1e-6)
    # air dark, spine bright: the radiograph is the right way round
    assert rg1_display[:100, :100].mean() < 0.4 and rg1_display[800:1000, 880:960].mean() > 0.8


def test_rg1_jpeg2000_twins(rg1_paths, rg1_display):
    lossless = LoadCXR()(rg1_paths["J2KR"])[0].numpy()
    lossy = LoadCXR()(rg1_paths["J2KI"])[0].numpy()
    np.testing.assert_array_equal(lossless, rg1_display)
    assert lossy.shape == rg1_display.shape
    assert np.abs(lossy - rg1_display).mean() < 0.01


@pytest.mark.parametrize("kind", ["png8", "png16", "jpeg"])
def test_png_and_jpeg_rendering_load_to_the_dicom_array(tmp_path, rg1_display, kind):
    path = tmp_path / ("rg1.jpg" if kind == "jpeg" else "rg1.png")
    if kind == "png16":
        write_png(np.round(rg1_display * 65535).astype(np.uint16), path)
        tolerance = 0.5 / 65535 + 1e-6
    else:
        eight = np.round(rg1_display * 255).astype(np.uint8)
        if kind == "png8":
            write_png(eight, path)
        else:
            Image.fromarray(eight).save(path, quality=95)
        tolerance = 0.5 / 255 + 1e-6
    loaded = LoadCXR()(path)
    assert loaded.shape == (1, 1955, 1841)
    diff = np.abs(loaded[0].numpy() - rg1_display)
    if kind == "jpeg":
        assert diff.mean() < 0.01
    else:
        assert diff.max() <= tolerance


@pytest.mark.parametrize("monochrome1", [True, False])
def test_written_dicom_round_trip(tmp_path, monochrome1):
    rng = np.random.default_rng(0)
    display = rng.random((40, 30)).astype(np.float32)  # not square: rows and columns cannot swap unseen
    path = tmp_path / "x.dcm"
    write_dicom_cr(display, path, monochrome1=monochrome1, bits_stored=12, uid_seed="t")
    loaded, meta = read_cxr(path)
    assert loaded.shape == (40, 30)
    assert np.abs(loaded - display).max() <= 0.5 / 4095 + 1e-6
    assert meta["photometric_interpretation"] == ("MONOCHROME1" if monochrome1 else "MONOCHROME2")
    np.testing.assert_allclose(meta["pixel_spacing"], [0.4, 0.4])


def test_dicom_rescale_then_window_and_no_window(tmp_path):
    raw = np.arange(0, 4000, 4, dtype=np.uint16).reshape(25, 40)
    path = tmp_path / "r.dcm"
    write_dicom_cr(raw / 4095.0, path, monochrome1=False, uid_seed="r")
    ds = pydicom.dcmread(path)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
    ds.WindowCenter, ds.WindowWidth = 1000, 2001
    ds.save_as(path)
    values = ds.pixel_array.astype(np.float64) * 2 - 1000
    expected = np.clip((values - 999.5) / 2000 + 0.5, 0, 1)
    np.testing.assert_allclose(read_cxr(path)[0], expected, atol=1e-6)
    del ds.WindowCenter, ds.WindowWidth
    ds.save_as(path)
    no_window = read_cxr(path)[0]  # no VOI: the full value range is used
    assert no_window.min() == 0.0 and no_window.max() == 1.0


@pytest.mark.parametrize("mode", ["L", "I;16", "RGB", "RGBA", "P", "LA", "1"])
def test_png_modes_load_as_grey(tmp_path, mode):
    grey = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))
    base = Image.fromarray(grey)
    if mode == "I;16":
        img, expected = Image.fromarray(grey.astype(np.uint16) * 257), grey / 255.0
    elif mode == "1":
        img = base.point(lambda v: 255 if v >= 128 else 0).convert("1")
        expected = (grey >= 128).astype(np.float64)
    else:
        img, expected = base.convert(mode), grey / 255.0
    path = tmp_path / f"m{mode.replace(';', '')}.png"
    img.save(path)
    loaded = LoadCXR()(path)
    assert loaded.shape == (1, 16, 32)
    np.testing.assert_allclose(loaded[0].numpy(), expected, atol=1.0 / 255 + 1e-6)


def _bad_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((64, 64), np.uint8) + 100).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    unknown = tmp_path / "volume.nii"
    unknown.write_bytes(b"\x5c\x01\x00\x00" + bytes(400))
    no_pixels = tmp_path / "sr.dcm"
    write_dicom_cr(np.zeros((4, 4)), no_pixels, monochrome1=False, uid_seed="n")
    ds = pydicom.dcmread(no_pixels)
    del ds.PixelData
    ds.save_as(no_pixels)
    return {
        "empty.png": (empty, "empty file"),
        "truncated.png": (truncated, "truncated"),
        "notes.png": (text, "unknown format"),
        "volume.nii": (unknown, "unknown format"),
        "sr.dcm": (no_pixels, "no pixel data"),
        "missing.png": (tmp_path / "missing.png", "no such file"),
    }


def test_bad_files_raise_one_error_naming_the_file(tmp_path):
    for name, (path, problem) in _bad_files(tmp_path).items():
        with pytest.raises(CXRReadError) as info:
            LoadCXR()(path)
        assert name in str(info.value), str(info.value)
        assert problem in str(info.value), str(info.value)
        assert isinstance(info.value, ValueError) and info.value.path == str(path)


def test_volume_dicom_refused(tmp_path):
    path = tmp_path / "vol.dcm"
    write_dicom_cr(np.zeros((4, 4)), path, monochrome1=False, uid_seed="v")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 3
    ds.PixelData = bytes(4 * 4 * 2 * 3)
    ds.save_as(path)
    with pytest.raises(CXRReadError, match=r"vol\.dcm: multi-frame DICOM \(3 frames\)"):
        LoadCXR()(path)


def test_dicom_without_preamble_and_suffix(tmp_path):
    src = tmp_path / "a.dcm"
    write_dicom_cr(np.full((8, 6), 0.5), src, monochrome1=False, uid_seed="p")
    no_preamble = tmp_path / "IM0001"
    no_preamble.write_bytes(src.read_bytes()[132:])  # raw data set without preamble and DICM prefix
    assert read_cxr(no_preamble)[0].shape == (8, 6)


def test_load_cxrd_keeps_other_keys(synthetic_root):
    item = {
        "image": synthetic_root / "lung-seg/Train/Normal/images/Normal (1).png",
        "lung": synthetic_root / "lung-seg/Train/Normal/lung masks/Normal (1).png",
        "label": 2,
    }
    out = LoadCXRd(keys=["image", "lung"])(item)
    assert out["label"] == 2
    assert out["image"].shape == out["lung"].shape == (1, 64, 64)
    assert set(torch.unique(out["lung"]).tolist()) == {0.0, 1.0}


def test_loaded_images_pass_through_with_their_metadata():
    """MONAI Deploy hands the bundle's preprocessing an image already in memory."""
    loader = LoadCXR()
    out = loader(np.full((5, 7), 0.25, dtype=np.float64))
    assert isinstance(out, MetaTensor) and out.shape == (1, 5, 7) and out.dtype == torch.float32
    assert list(out.meta["spatial_shape"]) == [5, 7]
    tagged = loader(MetaTensor(torch.zeros(1, 4, 3), meta={"filename_or_obj": "x.dcm"}))
    assert tagged.meta["filename_or_obj"] == "x.dcm" and tagged.shape == (1, 4, 3)
    with pytest.raises(ValueError, match="rows, columns"):
        loader(np.zeros((3, 4, 5)))


def test_a_broken_rle_frame_is_one_error_naming_the_file_and_no_library_traceback(tmp_path, caplog):
    """pydicom's RLE decoder logs ERROR with a full traceback for a frame whose segments decode short; an
    operator reads that as a crash. The reader's refusal names the file and is the only word about it."""
    import logging

    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, generate_frames

    from monai_ext.data import read_cxr
    from monai_ext.errors import CXRReadError

    ds = pydicom.dcmread(get_testdata_file("MR_small_RLE.dcm"))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])  # the segments' data cut in half
    path = tmp_path / "broken_rle.dcm"
    ds.save_as(path)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CXRReadError, match="doesn't match the expected amount") as raised:
        read_cxr(path)
    assert str(path) in str(raised.value)
    assert [r for r in caplog.records if r.name.startswith("pydicom")] == []
