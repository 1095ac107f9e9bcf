"""The input gate's cheap, explainable checks of one input: what its DICOM header says, its colour, and what its
lung mask says about the picture (two lungs side by side, upright, darker than the mediastinum).

Each check is a function of plain values (header strings, numbers, a binary mask and the grey image) that
returns ``(value, problem)``: the measured value, and why it fails, or None when it passes; a check that
cannot be made (no header, no two lungs) returns ``(None, None)`` and leaves the judgement to the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "ACCEPTED_MODALITIES",
    "BAND",
    "CHEST_BODY_PARTS",
    "FRONTAL_VIEWS",
    "MAX_COLOURFULNESS",
    "MIN_LUNG_ASPECT",
    "MIN_MEDIASTINUM_CONTRAST",
    "body_part_check",
    "colour_check",
    "lung_geometry",
    "modality_check",
    "orientation_check",
    "photometric_check",
    "polarity_check",
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


def colour_check(colourfulness: float | None) -> Check:
    """The picture is grey, not a colour photograph (:func:`~monai_ext.data.colourfulness`)."""
    if colourfulness is None:
        return None, None
    value = round(float(colourfulness), 2)
    return value, None if value <= MAX_COLOURFULNESS else f"colourfulness {value} (above {MAX_COLOURFULNESS})"


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


def orientation_check(geometry: dict[str, float] | None) -> Check:
    """The lungs lie side by side and upright: not a radiograph turned by 90 degrees or upside down."""
    if geometry is None:
        return None, None
    value = {k: geometry[k] for k in ("side_by_side", "lung_aspect", "upright") if k in geometry}
    problems = []
    if geometry["side_by_side"] < 1.0 or geometry["lung_aspect"] < MIN_LUNG_ASPECT:
        problems.append(
            f"lungs lying (side by side {geometry['side_by_side']}, height/width {geometry['lung_aspect']}): "
            "turned by 90 degrees"
        )
    elif geometry.get("upright") is not None and geometry["upright"] <= 0:
        problems.append(f"upright score {geometry['upright']} (at most 0): upside down")
    elif geometry.get("reaches_lower_edge"):
        problems.append("the lungs reach the image's lower edge, no abdomen below them: upside down or cut off")
    return value, "; ".join(problems) or None


def polarity_check(geometry: dict[str, float] | None) -> Check:
    """The lungs are darker than the mediastinum between them: not an inverted picture."""
    contrast = None if geometry is None else geometry.get("mediastinum_contrast")
    if contrast is None:
        return None, None
    ok = contrast > MIN_MEDIASTINUM_CONTRAST
    return contrast, None if ok else f"lungs brighter than the mediastinum (contrast {contrast}): inverted grey values"
