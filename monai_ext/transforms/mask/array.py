"""Array forms of the lung-mask transforms."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Transform
from monai.utils import TransformBackends

from monai_ext.constants import INPUT_MODES, Keys
from monai_ext.data.image_writer import mask_name_for, write_png
from monai_ext.transforms.mask.quality import lung_mask_quality

__all__ = ["INPUT_MODES", "ApplyLungMask", "AsLabelImage", "SaveLungMask", "needs_lung_mask"]

logger = logging.getLogger(__name__)


class SaveLungMask(Transform):
    """Write a binary mask ``(1, rows, columns)`` or ``(rows, columns)`` as a 0/255 grey PNG.

    The file is ``output_dir / output_name``, by default ``mask_name_for(name)``: the input's relative
    path with a ``.png`` suffix, so ``train/a.dcm`` gives ``train/a.png`` (a batch job passes the
    collision-free name :func:`~monai_ext.data.output_names` chose). It is written to a temporary
    name, then renamed. Returns the mask unchanged.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)

    def __call__(
        self, mask: torch.Tensor | np.ndarray, name: str, output_name: str | None = None
    ) -> torch.Tensor | np.ndarray:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2:
            raise ValueError(f"{name}: a 2-D mask or one channel is expected, got shape {array.shape}")
        write_png(
            np.where(array > 0.5, 255, 0).astype(np.uint8), self.output_dir / (output_name or mask_name_for(name))
        )
        return mask


class AsLabelImage(Transform):
    """A binary mask ``(1, rows, columns)`` or ``(rows, columns)`` as a 2-D label image the way MONAI's
    image writers and MONAI Label's writer take one: the channel dropped, ``uint8`` (0 background,
    1 lung), the axes in MONAI's spatial order ``(x, y)``, columns first (those writers transpose back
    to rows by columns when they save, so the file has the radiograph's rows and columns).

    It is the segmentation bundle's last postprocessing step, for the tools that save a bundle's output
    themselves (MONAI Label's stock ``BundleInferTask``); this project's own consumers take the mask in
    ``(1, rows, columns)`` before it.
    """

    backend: ClassVar[list[TransformBackends]] = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __call__(self, mask: torch.Tensor | np.ndarray) -> np.ndarray:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2:
            raise ValueError(f"a 2-D mask or one channel is expected, got shape {array.shape}")
        return np.ascontiguousarray((array > 0.5).astype(np.uint8).T)


def needs_lung_mask(mode: str, crop_to_lung: bool = False) -> bool:
    """Whether the classifier input ``mode`` (with or without cropping to the lungs) uses a lung mask."""
    return mode != "cxr" or bool(crop_to_lung)


class ApplyLungMask(Transform):
    """Make the classifier's input from a radiograph and its lung mask.

    ``cxr`` passes the image through; ``lung`` keeps the lungs (image x mask); ``no_lung`` keeps
    everything but the lungs (image x (1 - mask)), a probe for shortcuts outside the lungs. The mask
    is resized to the image with nearest-neighbour and binarised at half its maximum (0/255 and 0/1 files alike). A mask covering less than
    ``min_fraction`` of the image is reported (logged with the file name and counted in the image's
    metadata as ``lung_fraction``) and applied as it is: it is never silently replaced by a full mask.
    A mask that fails the plausibility check (:func:`~monai_ext.transforms.lung_mask_quality`) is
    logged, and the failed checks are kept in the metadata as ``mask_flags``.

    Args:
        mode: ``"cxr"``, ``"lung"`` or ``"no_lung"``.
        min_fraction: lung share of the image below which the mask is reported as (nearly) empty.
        crop_to_lung: crop the result to the lung bounding box (plus ``margin`` of its size) when the mask is not empty.
        margin: bounding-box margin, as a fraction of the box's height and width.
    """

    def __init__(self, mode: str = "cxr", min_fraction: float = 0.02, crop_to_lung: bool = False, margin: float = 0.05):
        if mode not in INPUT_MODES:
            raise ValueError(f"input mode must be one of {INPUT_MODES}, got {mode!r}")
        self.mode = mode
        self.min_fraction = min_fraction
        self.crop_to_lung = crop_to_lung
        self.margin = margin

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.apply(image, mask)[0]

    def apply(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The classifier's input and the binary lung mask on its grid (resized to the image, cropped as
        it is; None without a mask): what a saliency map's in-lung fraction is measured against."""
        if not needs_lung_mask(self.mode, self.crop_to_lung):
            return image, None if mask is None else self._binary_mask_like(torch.as_tensor(mask), image)
        name = getattr(image, "meta", {}).get("filename_or_obj", Keys.IMAGE)
        if mask is None:
            raise ValueError(f"{name}: input mode {self.mode!r} needs a lung mask, and none was given")
        lung = self._binary_mask_like(torch.as_tensor(mask), image)
        fraction = float(lung.mean())
        if hasattr(image, "meta"):
            image.meta["lung_fraction"] = fraction
        if fraction < self.min_fraction:
            logger.warning(
                "%s: the lung mask covers %.2f%% of the image (nearly empty); applied as it is", name, 100 * fraction
            )
        flags = lung_mask_quality(lung[0])[Keys.MASK_FLAGS]
        if hasattr(image, "meta"):
            image.meta[Keys.MASK_FLAGS] = flags
        if flags:
            logger.warning("%s: implausible lung mask: %s", name, flags)
        out = image if self.mode == "cxr" else image * (lung if self.mode == Keys.LUNG else 1.0 - lung)
        if self.crop_to_lung and fraction > 0:
            box = self._box(lung)
            return self._crop(out, box), self._crop(lung, box)
        return out, lung

    @staticmethod
    def _binary_mask_like(mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        mask = mask.float()
        if mask.ndim == 2:
            mask = mask[None]
        mask = mask[:1].to(image.device)
        if mask.shape[1:] != image.shape[1:]:
            mask = F.interpolate(mask[None], size=tuple(image.shape[1:]), mode="nearest")[0]
        # binarised at half the mask's maximum: 0/255 files (1.0 once loaded), 0/1 files as MONAI Label
        # writes them (1/255 once loaded) and probability maps alike; an empty mask stays empty
        return (mask > 0.5 * mask.max()).to(image.dtype)

    def _box(self, lung: torch.Tensor) -> tuple[int, int, int, int]:
        """The lung bounding box plus ``margin``, clipped to the image: ``(r0, r1, c0, c1)``."""
        rows = torch.nonzero(lung[0].any(dim=1)).flatten()
        cols = torch.nonzero(lung[0].any(dim=0)).flatten()
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        dr, dc = int(self.margin * (r1 - r0)), int(self.margin * (c1 - c0))
        return max(0, r0 - dr), min(lung.shape[1], r1 + dr), max(0, c0 - dc), min(lung.shape[2], c1 + dc)

    @staticmethod
    def _crop(image: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
        r0, r1, c0, c1 = box
        return image[:, r0:r1, c0:c1]
