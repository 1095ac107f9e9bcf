"""The study's report: the Models x Experiments table with 95% intervals, operating thresholds and calibration,
the shortcut probe, where the models look (Grad-CAM), per-source figures, settings and the manifest, written
as ``summary.md`` beside the results and figures."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from string import Template
from typing import Any

import monai
import numpy as np
import torch
import torchvision

from monai_ext.constants import INPUT_MODES, REPO_ROOT, positive_index
from monai_ext.networks.backbones import BACKBONES
from monai_ext.tools.bench.machine import gemm_line, machine_info
from monai_ext.tools.bench.training import REFERENCE_IMAGES_PER_S, reference_rate
from monai_ext.tools.gate_targets import SETS as GATE_SETS
from monai_ext.tools.reproduce.figures import draw_figures
from monai_ext.tools.reproduce.paths import StudyPaths, split_run_name
from monai_ext.tools.reproduce.probe import shortcut_probe
from monai_ext.tools.reproduce.profiles import cls_settings, run_modes, test_sources
from monai_ext.tools.reproduce.results import collect_results
from monai_ext.utils import atomic_path, file_sha256, write_csv, write_json

__all__ = ["write_report"]

#: the study's name of each input mode
EXPERIMENT = dict(zip(INPUT_MODES, ("original CXR", "segmented lung", "CXR without lung")))


def _fmt(entry: dict | None, pct: bool = True) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    scale = 100 if pct else 1
    low, high = entry.get("ci95", [None, None])
    value = f"{entry['value'] * scale:.1f}" if pct else f"{entry['value']:.3f}"
    if low is None:
        return value
    return f"{value} ({low * scale:.1f}-{high * scale:.1f})" if pct else f"{value} ({low:.3f}-{high:.3f})"


def _table(results: dict[str, Any], backbones, modes) -> tuple[str, list[list[Any]]]:
    lines = [
        "| model | experiment | accuracy % | recall % | precision % | F1 % | ROC AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    flat = [["model", "experiment", "metric", "value", "ci95_low", "ci95_high"]]
    for backbone in backbones:
        for mode in modes:
            run = results["classification"].get(f"{backbone}/{mode}")
            if not run:
                continue
            h = run["headline"]
            lines.append(
                f"| {backbone} | {EXPERIMENT[mode]} | {_fmt(h['accuracy'])} | {_fmt(h['recall'])} | "
                f"{_fmt(h['precision'])} | {_fmt(h['f1'])} | {_fmt(h['auc'], pct=False)} |"
            )
            for metric, entry in h.items():
                low, high = entry.get("ci95", [None, None])
                flat.append([backbone, mode, metric, entry.get("value"), low, high])
    return "\n".join(lines), flat


def _shortcut_section(results: dict[str, Any], backbones) -> str:
    lines = []
    for backbone in backbones:
        lung = results["classification"].get(f"{backbone}/lung")
        no_lung = results["classification"].get(f"{backbone}/no_lung")
        if not lung or not no_lung:
            continue
        probe = shortcut_probe(lung, no_lung)
        if probe.verdict == "shortcut":
            verdict = (
                f"**above chance** ({'; '.join(probe.reasons)}): the classifier finds class signal outside the lungs. "
                "That is a shortcut (source, markers, positioning, age), and the `cxr` result cannot be taken as "
                "evidence of recognising lung disease."
            )
        else:
            verdict = (
                f"not distinguishable from chance (accuracy vs {100 * probe.chance:.1f}% majority class, AUC vs 0.5): "
                "no evidence of a shortcut outside the lungs."
            )
            if probe.verdict == "uninformative":
                verdict += " But the lung run is not above chance either, so here the probe says nothing."
        acc, auc = no_lung["headline"]["accuracy"], no_lung["headline"]["auc"]
        lines.append(
            f"- {backbone}: lung {_fmt(lung['headline']['accuracy'])}, without lung {_fmt(acc)} "
            f"(AUC {_fmt(auc, pct=False)}); without lung is {verdict}"
        )
    return "\n".join(lines)


def _calibration_section(results: dict[str, Any]) -> str:
    """Per run: the operating threshold and temperature fitted on validation (with their stability over
    resampled validation images), the test decision at 0.5 and at the threshold, Brier score and ECE."""
    lines = []
    for key, run in results["classification"].items():
        fit, overall = run.get("calibration"), run["overall"]
        at, cal = overall.get("at_threshold"), overall.get("calibration")
        if not fit or not at or not cal:
            continue
        t_low, t_high = fit["threshold_ci95"]
        k_low, k_high = fit["temperature_ci95"]
        sens, spec = at["sensitivity"], at["specificity"]
        names = overall["class_names"]
        pos = overall["per_class"][names[positive_index(names)]]
        lines.append(
            f"| {key} | {fit['threshold']:.3f} ({t_low:.3f}-{t_high:.3f}) | {fit['temperature']:.2f} "
            f"({k_low:.2f}-{k_high:.2f}) | {_fmt(overall['accuracy'])} | {_fmt(at['accuracy'])} | "
            f"{_fmt(pos['sensitivity'])} / {_fmt(pos['specificity'])} | {_fmt(sens)} / {_fmt(spec)} | "
            f"{cal['brier_uncalibrated']:.3f} -> {cal['brier']:.3f} | {cal['ece_uncalibrated']:.3f} -> {cal['ece']:.3f} |"
        )
    if not lines:
        return "No run has a calibration."
    return (
        "| run | threshold (validation resamples) | temperature | accuracy % at 0.5 | at threshold | "
        "sensitivity / specificity % at 0.5 | at threshold | Brier before -> after | ECE before -> after |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
    )


def _saliency_section(results: dict[str, Any]) -> str:
    """Per run: the mean share of each test image's Grad-CAM map inside its lung mask, beside the lungs'
    share of the image (what a map spread evenly would score), with 95% bootstrap intervals."""
    lines = []
    for key, run in results["classification"].items():
        overall = (run.get("saliency") or {}).get("overall") or {}
        if not overall.get("in_lung"):
            continue
        grid = " x ".join(map(str, run["saliency"].get("grid", []))) or "n/a"
        lines.append(
            f"| {key} | {_fmt(overall['in_lung'])} | {_fmt(overall['lung_area'])} | "
            f"{overall['n_measured']} of {overall['n']} | {grid} |"
        )
    if not lines:
        return "No run has saliency maps."
    return (
        "| run | saliency inside the lungs % | lungs' share of the image % | maps measured | map cells |\n"
        "|---|---|---|---|---|\n" + "\n".join(lines)
    )


def _out_of_source_verdict(auc_in: dict, auc_out: dict) -> str:
    """What happens to a model's ROC AUC out of source: it falls to chance (the out-of-source interval
    reaches 0.5 while the in-source one is above it), drops but stays above chance (the intervals do not
    overlap), or holds (they overlap)."""
    in_low, (out_low, out_high) = auc_in.get("ci95", [None, None])[0], auc_out.get("ci95", [None, None])
    if None in (in_low, out_low):
        return "n/a (one class only)"
    drop = auc_in["value"] - auc_out["value"]
    if in_low <= 0.5:
        return "not above chance in source"
    if out_low <= 0.5:
        return f"**falls to chance** (by {drop:.3f})"
    if out_high < in_low:
        return f"drops by {drop:.3f}, stays above chance"
    return "holds (intervals overlap)"


def _in_out_rows(runs: dict[str, dict[str, Any]], first: str = "") -> list[str]:
    """Table rows of :func:`~monai_ext.tools.reproduce.results.in_and_out_of_source` runs: in-source beside
    out-of-source figures, whether ROC AUC falls out of source (the two intervals do not overlap) and the
    share of the saliency maps inside the lungs on each side."""
    lines = []
    for key, run in runs.items():
        inside, outside = run["in_source"], run["out_of_source"]
        auc_in, auc_out = inside["headline"]["auc"], outside["headline"]["auc"]
        verdict = _out_of_source_verdict(auc_in, auc_out)
        share = [_fmt((fig.get("saliency") or {}).get("in_lung")) for fig in (inside, outside)]
        backbone, mode = split_run_name(key)
        lines.append(
            f"| {first}{backbone} | {mode} | {_fmt(inside['headline']['accuracy'])} (n {inside['n']}) | "
            f"{_fmt(auc_in, pct=False)} | {_fmt(outside['headline']['accuracy'])} (n {outside['n']}) | "
            f"{_fmt(auc_out, pct=False)} | {verdict} | {share[0]} / {share[1]} |"
        )
    return lines


_IN_OUT_HEADER = (
    "| model | input | in-source accuracy % | in-source ROC AUC | out-of-source accuracy % | out-of-source ROC AUC | "
    "out of source | saliency in lungs % in / out |\n|---|---|---|---|---|---|---|---|\n"
)


def _shortcut_experiment_section(results: dict[str, Any]) -> str:
    """The two-hospital experiment: what the hospitals are, then each run in and out of source."""
    shortcut = results.get("shortcut")
    if not shortcut:
        return "Not run (the profile has no `shortcut`)."
    hospitals = shortcut["hospitals"]
    a, b = (hospitals["hospitals"][h] for h in ("hospital-a", "hospital-b"))
    return (
        f"Synthetic radiographs from two hospitals, {hospitals['n']} images: in the training hospital a side marker "
        f"burned in outside the lungs is on {a['marker_if_positive']:.0%} of positive and {a['marker_if_negative']:.0%} "
        f"of negative films (it tracks the label); in the test hospital on {b['marker_if_positive']:.0%} of each, "
        "with another exposure, more noise and shifted positioning. The class signal is inside the lungs in both. "
        "Trained on the first hospital; tested on its held-out patients (in-source) and on every image of the "
        "second (out-of-source). A model that learned the marker falls out of source; one that sees only the "
        "lungs cannot see the marker.\n\n" + _IN_OUT_HEADER + "\n".join(_in_out_rows(shortcut["runs"]))
    )


def _gate_section(results: dict[str, Any]) -> str:
    """Per run: what the input gate abstained on, on the test split and on what is not a chest radiograph."""
    runs = {k: r["gate"] for k, r in results["classification"].items() if r.get("gate")}
    if not runs:
        return "No run had the gate on."
    found = {s for g in runs.values() for s in (g.get("not_chest") or {})}
    sets = [s for s in GATE_SETS if s in found]
    header = (
        "| run | test: abstained % | test: decisions right, of those answered % | test: decisions right, abstention = error % | "
        "not chest radiographs: abstained % | " + " | ".join(f"{s} %" for s in sets) + " |"
    )
    lines = [header, "|---|---|---|---|---|" + "---|" * len(sets)]
    for key, gate in runs.items():
        test = gate.get("test") or {}
        answered = test.get("answered_accuracy")
        error = (test.get("abstain_as_error") or {}).get("accuracy")
        other = gate.get("not_chest") or {}
        cells = [_fmt(test.get("abstention_rate")), _fmt(answered), _fmt(error), _fmt(other.get("all"))]
        cells += [_fmt(other.get(s)) for s in sets]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _recalibration_section(results: dict[str, Any]) -> str:
    """The two-hospital recalibration: each shortcut run at the second hospital before and after."""
    recalibrated = (results.get("shortcut") or {}).get("recalibration")
    if not recalibrated:
        return "Not run (the profile's `shortcut` has no `recalibrate`)."
    header = (
        "| run | images refitted on | judged on | ECE before | ECE after | accuracy at the threshold before % | "
        "after % | threshold before -> after | temperature before -> after |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for key, r in recalibrated.items():
        cal = r["calibration"]
        original = cal["recalibration"]["original"]
        acc = [(r[w].get("at_threshold") or {}).get("accuracy") for w in ("before", "after")]
        lines.append(
            f"| {key} | {cal['recalibration']['n_images']} | {r['after']['n']} | {_fmt(r['before']['ece'], pct=False)} | "
            f"{_fmt(r['after']['ece'], pct=False)} | {_fmt(acc[0])} | {_fmt(acc[1])} | "
            f"{original.get('threshold') or 0:.3f} -> {cal.get('threshold') or 0:.3f} | "
            f"{original.get('temperature', 1.0):.2f} -> {cal['temperature']:.2f} |"
        )
    shifted = {key: r["prior_shift"] for key, r in recalibrated.items() if r.get("prior_shift")}
    if shifted:
        lines += [
            "",
            "Without labels: the share of positives among the judged images, estimated from the original models'",
            "probabilities alone (the bundle's `prior_shift`, Saerens et al. 2002, on the images the gate answered",
            "on), against the share their labels give (not used by the estimate); the models were calibrated at",
            "the first hospital's share:",
            "",
            "| run | images | calibrated at % | estimated % (95% interval) | labels say % (95% interval) |",
            "|---|---|---|---|---|",
        ]
        for key, p in shifted.items():
            names = list(p["site_prior"])
            positive = names[positive_index(names)]
            estimate = {"value": p["site_prior"][positive], "ci95": p["site_prior_ci95"][positive]}
            lines.append(
                f"| {key} | {p['n_images']} | {100 * p['calibrated_prior'][positive]:.1f} | {_fmt(estimate)} | "
                f"{_fmt(p['true_positive_share'])} |"
            )
    return "\n".join(lines)


def _held_out_sources_section(results: dict[str, Any], profile: dict) -> str:
    """The main runs when the study held sources out (``test_sources``): on them beside the other sources."""
    held = results.get("held_out_sources")
    if not held:
        return ""
    sources = ", ".join(test_sources(profile))
    return (
        f"\n\nThe test split above is every image of the held-out sources ({sources}), none of which training or "
        "validation saw; in-source is the other sources' published test images.\n\n"
        + _IN_OUT_HEADER
        + "\n".join(_in_out_rows(held))
    )


def _leave_one_source_out_section(results: dict[str, Any]) -> str:
    """Per held-out source: each classifier trained without it, tested on it, beside its in-source figures."""
    loso = results.get("leave_one_source_out")
    if not loso:
        return "Not run (the profile has no `leave_one_source_out`, or no source qualifies)."
    lines = [row for source, runs in loso.items() for row in _in_out_rows(runs, first=f"without {source}: ")]
    return (
        "Each source with both classes (or enough images) held out whole in turn: trained and validated on the "
        "other sources, tested on every image of the held-out one (out-of-source) and on the other sources' "
        "published test images (in-source).\n\n" + _IN_OUT_HEADER + "\n".join(lines)
    )


def _source_section(results: dict[str, Any]) -> str:
    lines = []
    for key, run in results["classification"].items():
        for source, report in run["per_source"].items():
            lines.append(
                f"| {key} | {source} | {report['n']} | {_fmt(report['accuracy'])} | {_fmt(report['auc'], pct=False)} |"
            )
    if not lines:
        return "No item carries a source."
    return "| run | source | n | accuracy % | ROC AUC |\n|---|---|---|---|---|\n" + "\n".join(lines)


def _manifest(paths: StudyPaths, profile_name: str, profile: dict, times: dict[str, float]) -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    machine = machine_info("cuda" if torch.cuda.is_available() else "cpu")  # its GEMM rates: which machine it was
    lists = sorted(paths.lists.glob("*.json"))
    return {
        "profile": profile_name,
        "settings": profile,
        "seeds": {"study": profile["seed"], "synthetic": (profile.get("synthetic") or {}).get("seed")},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "monai": monai.__version__,
            "numpy": np.__version__,
        },
        "git_commit": git("rev-parse", "HEAD")
        + (" (with uncommitted changes)" if git("status", "--porcelain") else ""),
        "device": device,
        "cpu": machine["cpu"],
        "gemm_gflops": machine["gemm_gflops"],
        "reference_images_per_s": round(reference_rate(device="cuda" if torch.cuda.is_available() else "cpu"), 2),
        "data": {"qu_ex": str(paths.qu_ex), "covidx": str(paths.covidx)},
        "data_list_sha256": {p.name: file_sha256(p) for p in lists},
        "wall_time_s": {k: round(v, 1) for k, v in times.items()},
        "wall_time_total_s": round(sum(times.values()), 1),
    }


#: recipe settings a Settings line reports when the profile gives them: (key, how it reads)
_RECIPE = (
    ("warmup_epochs", lambda v: f"{v:g} warmup epoch(s)"),
    ("bn_momentum", lambda v: "BatchNorm statistics: cumulative average" if v is None else f"BatchNorm momentum {v:g}"),
    ("stochastic_depth_prob", lambda v: "" if v is None else f"stochastic depth {v:g}"),
    ("zero_init_residual", lambda v: "residual branches zero-initialised" if v else ""),
    ("amp", lambda v: f"amp {v}"),
    ("patience", lambda v: f"early stopping after {v} epochs without a better validation score"),
)


def _settings_section(profile: dict, backbones, modes) -> str:
    """One line per trained model: what it was given (image size, epochs, learning rate, ImageNet weights,
    the short-schedule recipe) and how its checkpoint was chosen."""

    def line(name: str, settings: dict, selection: str) -> str:
        recipe = [text for key, say in _RECIPE if key in settings and (text := say(settings[key]))]
        return (
            f"- {name}: {settings['image_size']} px, up to {settings['max_epochs']} epochs, batch "
            f"{settings['batch_size']}, learning rate {settings['learning_rate']:g}, "
            f"{'ImageNet' if settings['pretrained'] else 'random'} initial weights"
            + "".join(f", {r}" for r in recipe)
            + f"; checkpoint: {selection}"
        )

    lines = [line("FPN-DenseNet121", profile["seg"], "best validation mean Dice")]
    for backbone in backbones:
        lines.append(
            line(
                backbone,
                cls_settings(profile, backbone),
                "best validation log-likelihood (minus the cross-entropy: a proper scoring rule)",
            )
            + f"; inputs: {', '.join(run_modes(profile, backbone, modes))}"
        )
    if any(run_modes(profile, b, modes) != list(modes) for b in backbones):
        lines.append(
            "- not every backbone runs on every input in this profile (its time budget); the whole grid: "
            "`--set modes_per_backbone={}`"
        )
    return "\n".join(lines)


def _per_class_dice(seg: dict) -> str:
    """Segmentation Dice per class of the data list (normal against diseased lungs), with intervals."""
    groups = seg.get("summary", {}).get("per_group", {}).get("val_mean_dice", {})
    if not groups:
        return ""
    rows = [f"| {name or 'no class'} | {g['n']} | {_fmt(g, pct=False)} |" for name, g in groups.items()]
    return (
        "\n\nDice per class (a mask that leaves dense disease out of the lung hides it from the `lung` input "
        "and hands it to the `no_lung` probe):\n\n| class | n | mean Dice (95% CI) |\n|---|---|---|\n" + "\n".join(rows)
    )


def _data_note(paths: StudyPaths) -> str:
    """What figures on the embedded synthetic data mean, and what they do not."""
    if not paths.synthetic:
        return ""
    return (
        f"**Synthetic data ({', '.join(paths.synthetic)}): a pipeline check.** The embedded radiographs of "
        "`monai_ext.tools.synthetic` differ by class only inside the lungs (opacities drawn into the lung fields) and "
        "carry no source shortcut. Figures on them show that every step runs, that each model learns a signal "
        "inside the lungs where there is one, and that the `no_lung` probe stays at chance where there is "
        "nothing outside them. They say nothing about COVID-19 on real radiographs: run "
        "`make reproduce QU_EX=DIR COVIDX=DIR` for that.\n\n"
    )


def _threshold_rule(results: dict[str, Any]) -> str:
    """How the runs' thresholds were placed, as their ``calibration.json`` files record it."""
    rules = set()
    for run in results.get("classification", {}).values():
        calibration = run.get("calibration") or {}
        method = calibration.get("threshold_method")
        if method == "youden":
            rules.add("Youden's J")
        elif method == "sensitivity":
            rules.add(f"the most specific reaching sensitivity {calibration['target_sensitivity']:g}")
        elif calibration:
            rules.add("none: more than two classes, argmax")
    return "; ".join(sorted(rules)) or "none fitted"


def _calibration_resamples(results: dict[str, Any]) -> str:
    """The number of resamples behind the runs' temperature and threshold intervals, from their files."""
    counts = {
        str(run["calibration"]["bootstrap"])
        for run in results.get("classification", {}).values()
        if (run.get("calibration") or {}).get("bootstrap") is not None
    }
    return " / ".join(sorted(counts)) or "no"


def _map_cells(profile: dict, backbones) -> str:
    """Each backbone's Grad-CAM map size at the profile's input size (:attr:`Backbone.saliency_stride`)."""
    sizes = []
    for backbone in backbones:
        size = cls_settings(profile, backbone)["image_size"]
        cells = size // BACKBONES[backbone].saliency_stride
        sizes.append(f"{BACKBONES[backbone].display_name} {cells} x {cells} at {size} px")
    return ", ".join(sizes)


def _manifest_lines(manifest: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"- device: {manifest['device']}, {manifest['cpu']}; {gemm_line(manifest['gemm_gflops'])} (measured as the report was written)",
            f"- versions: {', '.join(f'{k} {v}' for k, v in manifest['versions'].items())}",
            f"- git commit: {manifest['git_commit']}",
            f"- seeds: {manifest['seeds']}",
            f"- data lists (sha256): {', '.join(f'{k} {v[:12]}' for k, v in manifest['data_list_sha256'].items())}",
            (
                f"- wall time: {manifest['wall_time_total_s']:.0f} s in all; per step in `manifest.json`. This machine trains "
                f"FPN-DenseNet121 (plain fp32 loop, 256 px) at {manifest['reference_images_per_s']:.1f} img/s, the reference "
                f"machine at {REFERENCE_IMAGES_PER_S:g}: there this study would take about "
                f"{manifest['wall_time_total_s'] * manifest['reference_images_per_s'] / REFERENCE_IMAGES_PER_S:.0f} s"
            ),
        ]
    )


#: the report's prose, with a ``$name`` for each part this module fills in (:class:`string.Template`)
REPORT_TEMPLATE = Path(__file__).with_name("report.md")


def write_report(
    paths: StudyPaths, profile_name: str, profile: dict, times: dict[str, float], backbones, modes
) -> Path:
    """Write ``summary.md``, ``results.csv``, ``results.json``, ``manifest.json`` and the figures under the run folder."""
    results = collect_results(paths, backbones, modes)
    table, flat = _table(results, backbones, modes)
    figures = draw_figures(paths, results, backbones, modes, paths.run_dir / "figures")
    manifest = _manifest(paths, profile_name, profile, times)
    seg = results.get("segmentation", {})
    seg_line = "not evaluated"
    if seg.get("dice"):
        hd = seg["summary"]["per_image"].get("val_hd95", {})
        hd_text = f"{hd['median']:.1f} px" if hd.get("median") is not None else "undefined (empty masks)"
        seg_line = (
            f"mean Dice {_fmt(seg['dice'], pct=False)}, mean IoU {_fmt(seg['iou'], pct=False)}, "
            f"HD95 median {hd_text} (n = {seg['dice']['n']} test images, "
            f"95% bootstrap intervals, at the network's input size)"
        )
        for name in ("dice", "iou"):
            flat.append(["FPN-DenseNet121", "segmentation", name, seg[name]["value"], *seg[name]["ci95"]])
    write_csv(flat[1:], paths.run_dir / "results.csv", flat[0])
    write_json(results, paths.run_dir / "results.json")
    write_json(manifest, paths.run_dir / "manifest.json")
    fields = {
        "profile_name": profile_name,
        "data_note": _data_note(paths),
        "n_bootstrap": profile["n_bootstrap"],
        "settings": _settings_section(profile, backbones, modes),
        "table": table,
        "held_out_sources": _held_out_sources_section(results, profile),
        "segmentation": seg_line,
        "per_class_dice": _per_class_dice(seg),
        "threshold_rule": _threshold_rule(results),
        "calibration_resamples": _calibration_resamples(results),
        "calibration": _calibration_section(results),
        "shortcut_probe": _shortcut_section(results, backbones) or "Needs both the lung and no_lung runs.",
        "map_cells": _map_cells(profile, backbones),
        "saliency": _saliency_section(results),
        "shortcut_experiment": _shortcut_experiment_section(results),
        "recalibration": _recalibration_section(results),
        "gate": _gate_section(results),
        "leave_one_source_out": _leave_one_source_out_section(results),
        "per_source": _source_section(results),
        "figures": "\n".join(f"- [{f}](figures/{f})" for f in figures),
        "manifest": _manifest_lines(manifest),
    }
    text = Template(REPORT_TEMPLATE.read_text()).substitute(fields)
    with atomic_path(paths.run_dir / "summary.md") as tmp:
        tmp.write_text(text)
    return paths.run_dir / "summary.md"
