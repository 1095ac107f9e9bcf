"""The input gate's cheap, explainable checks of one input: what its DICOM header says, its colour, its fine
detail, and what its lung mask says about the picture (two lungs side by side, upright, darker than the
mediastinum).

A header check is a function of plain values that returns ``(value, problem)``: the value read, and why it
fails, or None when it passes; one that cannot be made (no header) returns ``(None, None)``. The picture's
checks measure scores (:func:`image_detail`, :func:`lung_geometry`), which the gate compares with its fitted
thresholds (:mod:`monai_ext.gate.thresholds`); the constants below are those thresholds' defaults, before a fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "ACCEPTED_MODALITIES",
    "BAND",
    "CHEST_BODY_PARTS",
    "DETAIL_SIDE",
    "EXPECTED_LUNG_REGIONS",
    "FRONTAL_VIEWS",
    "LUNG_FRACTION_RANGE",
    "MAX_COLOURFULNESS",
    "MAX_DETAIL",
    "MIN_DETAIL",
    "MIN_LEFT_RIGHT_RATIO",
    "MIN_LUNG_ASPECT",
    "MIN_MEDIASTINUM_CONTRAST",
    "MIN_SIDE_BY_SIDE",
    "MIN_UPRIGHT",
    "body_part_check",
    "image_detail",
    "lung_geometry",
    "modality_check",
    "photometric_check",
    "view_check",
]

#: DICOM modalities of a projection radiograph
ACCEPTED_MODALITIES = ("CR", "DX")
#: BodyPartExamined values of a chest radiograph (an empty one is not held against a file)
CHEST_BODY_PARTS = ("CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_LAT")
#: ViewPosition values of a frontal view (an empty one is not held against a file)
FRONTAL_VIEWS = ("PA", "AP")
#: Hasler and Suesstrunk's colourfulness above which an image is a colour picture, not a radiograph (a
#: radiograph stored as RGB scores 0, a photograph 15 or more)
MAX_COLOURFULNESS = 8.0
#: the lungs' smallest height over width (each lung's bounding box, the mean of the two): upright lungs are
#: taller than wide, a radiograph turned by 90 degrees has them lying
MIN_LUNG_ASPECT = 1.0
#: the smallest horizontal over vertical distance of the two lungs' centres: side by side, not one above the other
MIN_SIDE_BY_SIDE = 1.0
#: the smallest upright score (:func:`lung_geometry`): above 0, the abdomen below the lungs is brighter than
#: the neck above them
MIN_UPRIGHT = 0.0
#: separate lung regions a frontal chest mask has
EXPECTED_LUNG_REGIONS = 2
#: share of a frontal chest radiograph the two lungs cover, outside which a mask is implausible
LUNG_FRACTION_RANGE = (0.05, 0.60)
#: smaller over larger lung area (left and right halves of the image) below which a mask is implausible
MIN_LEFT_RIGHT_RATIO = 0.3
#: the fine detail (:func:`image_detail`) below which a picture is blurred or enlarged from a thumbnail, and
#: above which noise dominates it: on 17 real radiographs of the development sample it ranged 0.41-0.85,
#: pydicom-data's chest CR 0.33, the synthetic phantoms 0.26-0.30 (all of these the same after JPEG quality
#: 20, gamma 0.8 or resizing to 256 px); strongly blurred 0.09-0.13, enlarged from 32 px 0.14-0.15, under
#: heavy noise (sigma 0.25 at 256 px) above 1.3
MIN_DETAIL = 0.2
MAX_DETAIL = 1.25
#: the longest side a picture is sampled down to (by area) before its detail is measured
DETAIL_SIDE = 256
#: the height of the bands above and below the lungs the upright score compares, as a share of the lungs' height
BAND = 0.12
#: how much brighter (on the [0, 1] display scale) the mediastinum between the lungs must be than the lungs:
#: air is dark; an inverted picture has bright lungs
MIN_MEDIASTINUM_CONTRAST = 0.0
#: longest side the mask and image are sampled down to for the geometric checks
_SIDE = 256

Check = tuple[Any, "str | None"]


def modality_check(modality: str | None) -> Check:
    """A DICOM file's Modality is a projection radiograph's (CR, DX)."""
    if not modality:
        return None, None
    ok = modality.upper() in ACCEPTED_MODALITIES
    return modality, None if ok else f"modality {modality} is not a radiograph ({'/'.join(ACCEPTED_MODALITIES)})"


def body_part_check(body_part: str | None) -> Check:
    """A DICOM file's BodyPartExamined, when it has one, is the chest."""
    if not body_part:
        return None, None
    ok = body_part.upper() in CHEST_BODY_PARTS
    return body_part, None if ok else f"body part {body_part} is not the chest"


def view_check(view_position: str | None) -> Check:
    """A DICOM file's ViewPosition, when it has one, is frontal (PA or AP)."""
    if not view_position:
        return None, None
    ok = view_position.upper() in FRONTAL_VIEWS
    return view_position, None if ok else f"view {view_position} is not frontal (PA, AP)"


def photometric_check(photometric: str | None) -> Check:
    """A DICOM file's pixels are grey (MONOCHROME1 or MONOCHROME2)."""
    if not photometric:
        return None, None
    ok = photometric.upper().startswith("MONOCHROME")
    return photometric, None if ok else f"photometric interpretation {photometric}: a colour image, not a radiograph"


def image_detail(image: np.ndarray) -> float:
    """The picture's fine detail: the spread of its finest band (the grey image less its Gaussian blur of
    sigma 1 pixel) over that of the next band (blur 1 less blur 4), the picture first sampled down by area to
    :data:`DETAIL_SIDE` at most, so that the score does not depend on its size. A radiograph's ribs, vessels
    and edges keep both bands; blur and a thumbnail enlarged empty the fine one (near 0), noise fills it
    (well above 1). A flat picture has neither: 0."""
    grey = np.asarray(image, np.float64)
    factor = -(-max(grey.shape) // DETAIL_SIDE)
    if factor > 1:
        rows, cols = (grey.shape[0] // factor) * factor, (grey.shape[1] // factor) * factor
        grey = grey[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))
    fine_blur = ndimage.gaussian_filter(grey, 1.0)
    fine, coarse = (grey - fine_blur).std(), (fine_blur - ndimage.gaussian_filter(grey, 4.0)).std()
    return round(float(fine / coarse), 4) if coarse > 1e-6 else 0.0


def _sampled(array: np.ndarray) -> np.ndarray:
    step = -(-max(array.shape) // _SIDE)
    return array[::step, ::step]


def lung_geometry(mask: np.ndarray, image: np.ndarray | None = None) -> dict[str, float] | None:
    """What a binary lung mask ``(rows, columns)`` says about the picture, from its two largest regions:

    - ``side_by_side``: the regions' horizontal distance over their vertical distance (upright: well above 1);
    - ``lung_aspect``: the mean height over width of their bounding boxes (upright lungs are taller than wide);
    - ``mediastinum_contrast`` (with ``image``, the grey picture on the same grid): the mean grey of the band
      between the two lungs, over the rows both span, minus the lungs' mean grey (air dark: above 0);
    - ``upright``: the mean grey of a band below the lungs (the abdomen under the diaphragm) minus that of a
      band above them (neck, shoulders), each :data:`BAND` of the lungs' height, over the lungs' columns;
      its sign turned when ``mediastinum_contrast`` says the grey values are inverted (when the lungs reach
      the image's upper edge, the band above is the tissue beside the apices; when they reach its lower
      edge there is none, and ``reaches_lower_edge`` is set instead). Above 0 when upright: on the real
      development sample's lung masks it ranged 0.045 to 0.50 upright and -0.50 to -0.045 upside down
      (49 radiographs each).

    None when the mask has fewer than two regions (its plausibility check says so already).
    """
    mask = _sampled(np.asarray(mask) > 0.5)
    labels, found = ndimage.label(mask, structure=np.ones((3, 3)))
    if found < 2:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    first, second = (int(i) + 1 for i in np.argsort(sizes)[::-1][:2])
    regions = []
    for k in (first, second):
        rows, cols = np.nonzero(labels == k)
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        regions.append(
            {
                "centre": (rows.mean(), cols.mean()),
                "aspect": (bottom - top + 1) / (right - left + 1),
                "rows": (top, bottom),
                "cols": (left, right),
            }
        )
    (r0, c0), (r1, c1) = regions[0]["centre"], regions[1]["centre"]
    result = {
        "side_by_side": round(float(abs(c1 - c0) / max(abs(r1 - r0), 1.0)), 3),
        "lung_aspect": round(float(np.mean([r["aspect"] for r in regions])), 3),
    }
    if image is not None:
        image = _sampled(np.asarray(image, np.float64))
        contrast = _mediastinum_contrast(image, mask, regions)
        if contrast is not None:
            result["mediastinum_contrast"] = contrast
            vertical = _vertical_contrast(image, mask)
            if vertical is not None:
                result["upright"] = round(vertical * (1.0 if contrast >= 0 else -1.0), 4)
            else:
                result["reaches_lower_edge"] = True
    return result


def _vertical_contrast(image: np.ndarray, mask: np.ndarray) -> float | None:
    """Mean grey of the band below the lungs minus that of the band above them, over the lungs' columns; when
    the lungs reach the image's upper edge (a tight collimation), the band above is the tissue beside the
    apices, in the lungs' top rows. None when they reach its lower edge: no band below."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    height = max(int(BAND * (bottom - top + 1)), 1)
    below = image[bottom + 1 : bottom + 1 + height, left : right + 1]
    above = image[max(top - height, 0) : top, left : right + 1]
    if above.size == 0:
        beside = ~mask[top : top + height, left : right + 1]
        above = image[top : top + height, left : right + 1][beside]
    if below.size == 0 or above.size == 0:
        return None
    return float(below.mean() - above.mean())


def _mediastinum_contrast(image: np.ndarray, mask: np.ndarray, regions: list[dict]) -> float | None:
    """Mean grey of the band between the two lungs (over the rows both span) minus the lungs' mean grey."""
    left, right = sorted(regions, key=lambda r: r["centre"][1])
    top, bottom = max(left["rows"][0], right["rows"][0]), min(left["rows"][1], right["rows"][1])
    inner_left, inner_right = left["cols"][1] + 1, right["cols"][0]
    if bottom <= top or inner_right <= inner_left or image.shape != mask.shape:
        return None
    band = image[top : bottom + 1, inner_left:inner_right]
    outside = ~mask[top : bottom + 1, inner_left:inner_right]
    if not outside.any():
        return None
    return round(float(band[outside].mean() - image[mask].mean()), 4)
