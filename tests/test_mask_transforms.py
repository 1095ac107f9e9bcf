"""Mask application (cxr / lung / no_lung) checked on pixels, and the lung-mask writer."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_ext.data import write_png
from monai_ext.transforms import ApplyLungMask, ApplyLungMaskd, LoadCXR, SaveLungMask, SaveLungMaskd


def _image(rows: int = 8, cols: int = 6) -> MetaTensor:
    values = torch.arange(1, rows * cols + 1, dtype=torch.float32).reshape(1, rows, cols) / (rows * cols)
    return MetaTensor(values, meta={"filename_or_obj": "/data/p1.png"})


def _mask(rows: int = 8, cols: int = 6) -> torch.Tensor:
    mask = torch.zeros(1, rows, cols)
    mask[:, 2:6, 1:3] = 1.0
    return mask


def test_modes_on_pixels():
    image, mask = _image(), _mask()
    inside = mask.bool()
    assert torch.equal(ApplyLungMask("cxr")(image.clone(), mask), image)
    lung = ApplyLungMask("lung")(image.clone(), mask)
    assert torch.equal(lung[inside], image[inside]) and torch.all(lung[~inside] == 0)
    no_lung = ApplyLungMask("no_lung")(image.clone(), mask)
    assert torch.all(no_lung[inside] == 0) and torch.equal(no_lung[~inside], image[~inside])
    assert torch.allclose(lung + no_lung, image.as_tensor())


def test_mask_resized_nearest_and_binarised():
    image = _image(8, 6)
    small = torch.zeros(1, 4, 3)
    small[:, 1:3, 0:1] = 0.8  # the maximum: lung after binarising
    small[:, 0, 2] = 0.3  # below half the maximum: background
    out = ApplyLungMask("lung")(image.clone(), small)
    expected = torch.zeros(1, 8, 6, dtype=torch.bool)
    expected[:, 2:6, 0:2] = True  # each mask pixel covers 2 x 2 image pixels
    assert torch.equal(out != 0, expected)
    assert out.meta["lung_fraction"] == pytest.approx(8 / 48)


def test_zero_one_mask_files_count_as_masks(tmp_path):
    """MONAI Label saves labels as 0/1 PNGs: 1/255 once loaded, still the lung."""
    image = _image(8, 6)
    mask = np.zeros((8, 6), dtype=np.uint8)
    mask[2:6, 1:4] = 1
    write_png(mask, tmp_path / "m.png")
    out = ApplyLungMask("lung")(image.clone(), LoadCXR()(tmp_path / "m.png"))
    assert out.meta["lung_fraction"] == pytest.approx(12 / 48)


def test_nearly_empty_mask_is_reported_not_replaced(caplog):
    image = _image()
    empty = torch.zeros(1, 8, 6)
    with caplog.at_level(logging.WARNING):
        out = ApplyLungMask("lung", min_fraction=0.02)(image.clone(), empty)
    assert torch.all(out == 0)  # not silently turned into a whole-image mask
    assert "/data/p1.png" in caplog.text and "nearly empty" in caplog.text
    assert out.meta["lung_fraction"] == 0.0


def test_crop_to_lung_bounding_box():
    out = ApplyLungMask("lung", crop_to_lung=True, margin=0.0)(_image(), _mask())
    assert out.shape == (1, 4, 2)
    assert torch.all(out > 0)


def test_the_dictionary_form_leaves_the_mask_on_the_inputs_grid():
    """The mask key ends aligned with the classifier input: binarised, resized to the image, cropped as it."""
    small = torch.zeros(1, 4, 3)  # half the image's size, 0/255 values as a PNG file loads
    small[:, 1:3, 0:2] = 255.0
    d = ApplyLungMaskd("image", mode="cxr")({"image": _image(), "lung": small})
    assert d["lung"].shape == (1, 8, 6) and set(d["lung"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(d["lung"], (torch.nn.functional.interpolate(small[None], size=(8, 6))[0] > 0).float())
    d = ApplyLungMaskd("image", mode="no_lung", crop_to_lung=True, margin=0.0)({"image": _image(), "lung": _mask()})
    assert d["image"].shape == d["lung"].shape == (1, 4, 2) and torch.all(d["lung"] == 1)
    assert "lung" not in ApplyLungMaskd("image", mode="cxr")({"image": _image()})  # none given, none made


def test_errors_and_dictionary_form():
    with pytest.raises(ValueError, match="input mode must be one of"):
        ApplyLungMask("lungs")
    with pytest.raises(ValueError, match=r"/data/p1.png: input mode 'no_lung' needs a lung mask"):
        ApplyLungMask("no_lung")(_image(), None)
    d = ApplyLungMaskd(keys="image", mode="cxr")({"image": _image(), "label": 1})  # cxr needs no mask
    assert d["label"] == 1 and torch.equal(d["image"], _image())
    d = ApplyLungMaskd(keys="image", mask_key="lung", mode="no_lung")({"image": _image(), "lung": _mask()})
    assert torch.all(d["image"][_mask().bool()] == 0)


def test_save_lung_mask_names_and_values(tmp_path):
    mask = torch.zeros(1, 5, 7)
    mask[0, 1:4, 2:5] = 1
    SaveLungMask(tmp_path)(mask, "train/CR.1.2.840.dcm")
    SaveLungMaskd(keys="pred", output_dir=tmp_path)({"pred": mask, "name": "sub/a.jpg"})
    for path in (tmp_path / "train" / "CR.1.2.840.png", tmp_path / "sub" / "a.png"):
        img = Image.open(path)
        assert img.mode == "L" and img.size == (7, 5)
        assert np.array_equal(np.asarray(img) == 255, mask[0].numpy() == 1)
    assert not list(tmp_path.rglob("*.tmp*"))
