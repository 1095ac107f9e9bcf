"""The model card of a trained model folder (``models/MODEL_CARD.md``): what the model was trained on,
how it scored on validation (with intervals), its calibration and input gate, what it is for and what
it is not. Rendered from the model folder's own files alone, so that a copied or recalibrated folder
carries a true card: training (:class:`~monai_ext.handlers.ModelCardWriter`) records the training data's summary in
``settings.json`` (``training_data``) and writes the card; recalibration writes it again for its new
folder; the study adds the shortcut probe's verdict."""

from __future__ import annotations

import datetime
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_ext.bundle.model_folder import read_model_folder
from monai_ext.constants import CLS_BUNDLE, MODEL_CARD_FILE, SETTINGS_FILE, SPLITS, Keys
from monai_ext.data.datalist import read_datalist
from monai_ext.utils import atomic_path, file_sha256

__all__ = ["training_data_summary", "write_model_card"]

_LIMITS = (
    "Research software, **not a medical device**: not for diagnosis, triage or any clinical decision. "
    "Its figures hold for images like its training data only: the sources and classes listed below. "
    "Public COVID-19 chest X-ray sets take their classes from different hospitals, so a classifier can "
    "learn the source instead of the disease; the study's `no_lung` runs (the image without its lungs) "
    "probe that shortcut, and the input gate abstains on inputs unlike the training images, but neither "
    "proves the model sees disease."
)


def training_data_summary(datalist: str | os.PathLike) -> dict[str, Any]:
    """The data list's file and SHA-256, and per split its image count by class and by source."""
    data = read_datalist(datalist)
    classes = data.get("classes")
    splits = {}
    for split in SPLITS:
        items = data.get(split) or []
        by_class = Counter(
            (classes[int(i[Keys.LABEL])] if classes and Keys.LABEL in i else i.get(Keys.CLASS_NAME, "")) or "-"
            for i in items
        )
        by_source = Counter(str(i.get(Keys.SOURCE, "")) or "-" for i in items)
        splits[split] = {
            "n": len(items),
            "classes": dict(sorted(by_class.items())),
            "sources": dict(sorted(by_source.items())),
        }
    return {"datalist": Path(datalist).name, "datalist_sha256": file_sha256(datalist), "splits": splits}


def _ci(figure: Mapping[str, Any] | None, digits: int = 3) -> str:
    if not figure or figure.get("value") is None:
        return "n/a"
    low, high = (figure.get("ci95") or [None, None])[:2]
    interval = f" (95% CI {low:.{digits}f}-{high:.{digits}f})" if low is not None and high is not None else ""
    count = f", {figure['k']}/{figure['n']}" if "k" in figure else ""
    return f"{figure['value']:.{digits}f}{interval}{count}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def write_model_card(
    model_dir: str | os.PathLike, bundle: str, shortcut: str | None = None, note: str | None = None
) -> Path:
    """Render ``model_dir/MODEL_CARD.md`` from the folder's files (atomically) and return its path.

    Args:
        model_dir: the model folder (read and checked as every consumer reads it).
        bundle: the bundle it belongs to.
        shortcut: the shortcut probe's verdict on this model, where a study produced one.
        note: a line on how the folder was made (training, recalibration).
    """
    model = read_model_folder(model_dir, bundle)
    s, cal, gate = model.settings, model.calibration, model.gate
    lines = [f"# Model card: {bundle}", ""]
    lines += [note or f"Written {datetime.date.today().isoformat()}.", ""]
    lines += ["## Intended use and limits", "", _LIMITS, ""]
    lines += ["## Model", ""]
    for key in ("backbone", "input_mode", "crop_to_lung", "image_size"):
        if key in s:
            lines.append(f"- {key}: `{s[key]}`")
    if model.class_names or s.get("class_names"):
        lines.append(f"- classes: {', '.join(model.class_names or s['class_names'])}")
    lines.append(f"- weights: `{model.weights.name}`, sha256 `{s.get('model_sha256', 'not recorded')}`")
    lines.append("")
    data = s.get("training_data")
    lines += ["## Training data", ""]
    if data:
        lines.append(f"Data list `{data['datalist']}` (sha256 `{data['datalist_sha256']}`).")
        lines += ["", "| split | images | by class | by source |", "|---|---|---|---|"]
        for split, part in data["splits"].items():
            lines.append(f"| {split} | {part['n']} | {_counts(part['classes'])} | {_counts(part['sources'])} |")
    else:
        lines.append(f"Not recorded in this folder's {SETTINGS_FILE}.")
    lines += ["", "## Validation (the data list's validation split, never its test split)", ""]
    val = s.get("validation")
    if val:
        lines.append(
            f"- best {val['metric']}: {_ci(val, 4)} at epoch {val['epoch']}"
            + (f", {val['n']} images" if "n" in val else "")
        )
    figures = cal.get("validation") or {}
    if "accuracy" in figures:
        lines.append(f"- accuracy (argmax, calibrated): {_ci(figures['accuracy'])}")
        lines.append(f"- ROC AUC: {_ci(figures.get('auc'))}")
    if "at_threshold" in figures:
        at = figures["at_threshold"]
        lines.append(
            f"- at the operating threshold {at['threshold']:.3f}: accuracy {_ci(at['accuracy'])}, "
            f"sensitivity {_ci(at['sensitivity'])}, specificity {_ci(at['specificity'])}"
        )
    if not val and "accuracy" not in figures:
        lines.append("- none recorded")
    lines.append("")
    if bundle == CLS_BUNDLE:
        lines += ["## Calibration", ""]
        if cal.get("model_sha256"):
            t_ci = cal.get("temperature_ci95") or [None, None]
            lines.append(
                f"- temperature {cal['temperature']:.3f}"
                + (f" (95% CI {t_ci[0]:.3f}-{t_ci[1]:.3f})" if None not in t_ci else "")
            )
            if cal.get("threshold") is not None:
                h_ci = cal.get("threshold_ci95") or [None, None]
                interval = f" (95% CI {h_ci[0]:.3f}-{h_ci[1]:.3f})" if None not in h_ci else ""
                lines.append(f"- operating threshold {cal['threshold']:.3f} ({cal.get('threshold_method')}){interval}")
            if "ece_after" in figures:
                lines.append(
                    f"- ECE {figures['ece_before']:.3f} before, {figures['ece_after']:.3f} after, on {cal.get('n_validation')} images"
                )
            if cal.get("recalibration"):
                r = cal["recalibration"]
                lines.append(f"- recalibrated on `{Path(r['datalist']).name}` ({r['n_images']} images, {r['date']})")
        else:
            lines.append("- none: probabilities are the network's softmax, decisions the argmax")
        lines += ["", "## Input gate", ""]
        if gate:
            lines.append(
                f"- {gate['method']} distance of the penultimate features, threshold {gate['threshold']:.3f}: {gate.get('rule', '')}"
            )
            if gate.get("validation_distance"):
                lines.append(
                    f"- validation distances: {', '.join(f'{k} {v}' for k, v in gate['validation_distance'].items())}"
                )
        else:
            lines.append("- no feature density: only the header, colour and lung-mask checks")
        lines += [
            "",
            "## Shortcut probe",
            "",
            shortcut or "Not run for this model (the study's `no_lung` runs make it).",
            "",
        ]
    out = Path(model_dir) / MODEL_CARD_FILE
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return out
