"""Dictionary forms of the lung-mask transforms."""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, SaveImaged

from monai_ext.constants import Keys
from monai_ext.transforms.mask.array import ApplyLungMask, AsLabelImage, SaveLungMask

logger = logging.getLogger(__name__)

__all__ = [
    "ApplyLungMaskD",
    "ApplyLungMaskDict",
    "ApplyLungMaskd",
    "AsLabelImageD",
    "AsLabelImageDict",
    "AsLabelImaged",
    "SaveLungMaskD",
    "SaveLungMaskDict",
    "SaveLungMaskd",
]


class ApplyLungMaskd(MapTransform):
    """Dictionary wrapper of :class:`ApplyLungMask`: replaces each key's image by the chosen input,
    using the mask under ``mask_key`` (not needed for ``mode="cxr"``). A mask that is given is replaced
    by the binary mask on the input's grid (resized to it, cropped as it is), so that transforms of both
    keys keep them aligned: a saliency map's in-lung fraction is measured against it
    (:class:`~monai_ext.handlers.SaliencyWriter`)."""

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: str = Keys.LUNG,
        mode: str = "cxr",
        min_fraction: float = 0.02,
        crop_to_lung: bool = False,
        margin: float = 0.05,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.applier = ApplyLungMask(mode, min_fraction, crop_to_lung, margin)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key], lung = self.applier.apply(d[key], d.get(self.mask_key))
            if lung is not None:
                d[self.mask_key] = lung
        return d


class SaveLungMaskd(SaveImaged):
    """Dictionary wrapper of :class:`SaveLungMask`: the bundle's mask writer, a ``SaveImaged`` by type so
    that the tools which drop a bundle's own writer and save its output themselves (MONAI Label's
    ``BundleInferTask`` filters ``SaveImaged``) drop it too; it shares nothing else with ``SaveImaged``. The file is ``data[output_name_key]`` when the item has
    one (the collision-free name a batch job's input scan chose), else named after ``data[name_key]``,
    or, without it, after the source file's name in the mask's metadata.

    A mask the file system refuses (a name too long for it, a full disk, a folder it may not write) is not
    written: the reason goes under ``write_error`` (the batch job's manifest lists the input as skipped
    with it) and the batch goes on.

    Args:
        keys: the binary mask(s) to write.
        output_dir: the folder the masks go to.
        name_key: the item's input name (relative path).
        output_name_key: the item's output file name, relative to ``output_dir``.
        allow_missing_keys: don't raise when a key is missing.
    """

    backend = SaveLungMask.backend

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike,
        name_key: str = Keys.NAME,
        output_name_key: str = Keys.MASK_NAME,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)  # not SaveImaged's writer: SaveLungMask is
        self.saver = SaveLungMask(output_dir)
        self.name_key = name_key
        self.output_name_key = output_name_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            name = d.get(self.name_key)
            if name is None:
                name = Path(str(getattr(d[key], "meta", {}).get("filename_or_obj", key))).name
            try:
                self.saver(d[key], str(name), d.get(self.output_name_key))
            except OSError as e:
                d[Keys.WRITE_ERROR] = f"mask not written ({e.strerror or e})"
                logger.warning("%s: %s", name, d[Keys.WRITE_ERROR])
        return d


class AsLabelImaged(MapTransform):
    """Dictionary wrapper of :class:`AsLabelImage`: each key's mask becomes a 2-D ``uint8`` label image in
    MONAI's ``(x, y)`` order, and the ``spatial_shape`` in the metadata of ``ref_key`` (the image MONAI
    Label's restore step sizes the output to) is given in the same order, so that it finds the mask
    already at the radiograph's size.

    Args:
        keys: the binary mask(s) to convert.
        ref_key: the image whose ``spatial_shape`` (rows, columns) is reordered to (columns, rows); None
            leaves every image as it is.
        allow_missing_keys: don't raise when a key is missing.
    """

    backend = AsLabelImage.backend

    def __init__(self, keys: KeysCollection, ref_key: str | None = Keys.IMAGE, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.converter = AsLabelImage()
        self.ref_key = ref_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        ref = d.get(self.ref_key) if self.ref_key is not None else None
        if isinstance(ref, MetaTensor) and "spatial_shape" in ref.meta:
            ref.meta = {**ref.meta, "spatial_shape": np.asarray(ref.meta["spatial_shape"])[::-1].copy()}
        return d


SaveLungMaskD = SaveLungMaskDict = SaveLungMaskd
AsLabelImageD = AsLabelImageDict = AsLabelImaged
ApplyLungMaskD = ApplyLungMaskDict = ApplyLungMaskd
