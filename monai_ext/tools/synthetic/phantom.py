"""Chest radiograph phantoms: anatomy-like structure, lung masks and class-specific lung findings.

Every structure is drawn on a normalised grid (``y`` down, ``x`` right, both in [0, 1]) as a
PA view: the patient's left lung is on the image's right, behind the heart. Intensities add up
like attenuation (air dark, bone bright) and end in a [0, 1] display image. The only class
signal lies inside the lung fields, so a classifier shown the image without its lungs should
be at chance: the synthetic set is a positive control for the ``no_lung`` probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["CLASSES", "Phantom", "make_phantom"]

#: the three classes of the study, as COVIDx CXR-3's 3-class lists name them
CLASSES = ("normal", "COVID-19", "pneumonia")


@dataclass
class Phantom:
    """One synthetic radiograph: ``image`` float32 [0, 1] and ``lung`` bool mask, both ``(size, size)``."""

    image: np.ndarray
    lung: np.ndarray
    label: str


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-8)


def _band(distance: np.ndarray, half_width: float) -> np.ndarray:
    """Soft band profile: 1 on the centre line, falling off over ``half_width``."""
    return np.exp(-((distance / half_width) ** 2))


def make_phantom(rng: np.random.Generator, size: int, label: str) -> Phantom:
    """Draw one phantom of class ``label`` (one of :data:`CLASSES`) with ``size`` x ``size`` pixels."""
    if label not in CLASSES:
        raise ValueError(f"unknown class {label!r}; expected one of {CLASSES}")
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)

    # --- global pose and body outline
    cx = 0.5 + rng.normal(0, 0.015)
    tilt = rng.normal(0, 0.03)  # slight rotation: shear the x coordinate with depth
    x = x + tilt * (y - 0.5)
    body_ax, body_ay = rng.uniform(0.40, 0.47), rng.uniform(0.55, 0.62)
    body = (np.abs((x - cx) / body_ax) ** 4 + np.abs((y - 0.62) / body_ay) ** 4) <= 1.0
    neck = (np.abs(x - cx) < rng.uniform(0.09, 0.12)) & (y < 0.2)
    body_soft = gaussian_filter((body | neck).astype(np.float64), 2.0)

    # --- lungs, in side-local coordinates: u lateral from the mediastinum, v down from the apex
    top = rng.uniform(0.12, 0.19)
    bottom = rng.uniform(0.66, 0.78)
    gap = rng.uniform(0.045, 0.07)
    heart_c = (cx + rng.uniform(0.04, 0.08), bottom - rng.uniform(0.08, 0.13))
    heart_r = (rng.uniform(0.11, 0.15), rng.uniform(0.09, 0.12))
    heart = ((x - heart_c[0]) / heart_r[0]) ** 2 + ((y - heart_c[1]) / heart_r[1]) ** 2 <= 1.0
    lungs, domes, sides = [], [], []
    for side in (-1.0, 1.0):
        width = rng.uniform(0.15, 0.21) * (0.95 if side > 0 else 1.0)
        u = (x - (cx + side * gap)) * side / width
        v = (y - top) / (bottom - top)
        lateral = 0.3 + 0.7 * np.sqrt(np.clip(v / 0.45, 0, 1))
        dome_h = rng.uniform(0.08, 0.16)
        dome = 1.0 - dome_h * np.clip(1.0 - ((u - 0.45) / 0.75) ** 2, 0, 1)
        apex = (u - 0.45) ** 2 / 0.45**2 + ((v - 0.25) / 0.25) ** 2 <= 1.0
        lung = (u >= 0) & (u <= lateral) & (v <= dome) & ((v >= 0.25) | apex)
        lungs.append(lung & ~heart)
        domes.append((u >= -0.3) & (u <= 1.1) & (v > dome))
        sides.append((u, v))
    lung_mask = (lungs[0] | lungs[1]) & body
    lung_soft = gaussian_filter(lung_mask.astype(np.float64), 1.2)

    image = 0.50 * body_soft
    image -= rng.uniform(0.28, 0.36) * lung_soft
    # the abdomen under the diaphragm: dense soft tissue, brighter than the neck and shoulders above the lungs
    image += 0.18 * gaussian_filter((domes[0] | domes[1]).astype(np.float64) * body, 2.0)
    image += 0.13 * gaussian_filter(heart.astype(np.float64), 4.0 * size / 256)
    mediastinum = (np.abs(x - cx) < gap + 0.01) & (y < heart_c[1]) & (y > 0.05)
    image += 0.16 * gaussian_filter(mediastinum.astype(np.float64), 3.0)

    # --- bones: spine with vertebrae, ribs, clavicles
    spine = _band(x - cx, 0.028) * (y > 0.03)
    vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * (y - rng.uniform(0, 1)) / rng.uniform(0.05, 0.065))
    image += (0.10 + 0.06 * vertebrae) * spine * body_soft
    rib_gap = (bottom - top) / rng.uniform(8.0, 9.5)
    for u, v in sides:
        reach = (u > -0.2) & (u < 1.25)
        for k in range(10):
            y_k = top - 0.03 + k * rib_gap
            centre = y_k - 0.03 * np.sin(np.pi * np.clip(u, 0, 1.2) * 0.8) + 0.08 * np.clip(u, 0, None) ** 1.5
            image += 0.06 * _band(y - centre, 0.010 + 0.002 * k) * reach * body_soft
    for side in (-1.0, 1.0):
        t = np.clip((x - cx) * side / 0.3, 0, 1)
        centre = top - 0.01 - 0.08 * t + 0.03 * t**2
        clavicle = _band(y - centre, 0.014) * ((x - cx) * side > 0.03) * (t < 1)
        image += 0.14 * clavicle * body_soft

    # --- lung markings and soft-tissue texture
    image += 0.025 * _smooth_noise(rng, (size, size), 1.5 * size / 256) * lung_soft
    image += 0.02 * _smooth_noise(rng, (size, size), 10 * size / 256) * body_soft

    # --- class findings, only inside the lungs
    finding = np.zeros_like(image)
    if label == "COVID-19":  # bilateral, peripheral, lower-zone ground-glass opacities
        for u, v in sides:
            for _ in range(rng.integers(2, 5)):
                uc, vc = rng.uniform(0.55, 0.95), rng.uniform(0.5, 0.9)
                su, sv = rng.uniform(0.12, 0.22), rng.uniform(0.08, 0.16)
                finding += rng.uniform(0.10, 0.18) * np.exp(-(((u - uc) / su) ** 2 + ((v - vc) / sv) ** 2))
        finding *= 1.0 + 0.35 * _smooth_noise(rng, (size, size), 2.0 * size / 256)
    elif label == "pneumonia":  # unilateral lobar consolidation bounded by a fissure
        u, v = sides[int(rng.integers(0, 2))]
        fissure = rng.uniform(0.4, 0.6) + rng.uniform(-0.25, 0.25) * (u - 0.5)
        lobe = (v > fissure) if rng.random() < 0.65 else (v < fissure)
        lobe = lobe & (u > -0.05) & (u < 1.1)
        finding = rng.uniform(0.22, 0.32) * gaussian_filter(lobe.astype(np.float64), 2.0 * size / 256)
        finding *= 1.0 + 0.1 * _smooth_noise(rng, (size, size), 3.0 * size / 256)
    image += np.clip(finding, 0, None) * lung_soft

    # --- exposure variation and quantum noise
    image = rng.uniform(0.85, 1.15) * image + rng.uniform(0.02, 0.10)
    image = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
    image += rng.normal(0, rng.uniform(0.006, 0.015), image.shape) * (0.3 + image)
    return Phantom(np.clip(image, 0, 1).astype(np.float32), lung_mask, label)
