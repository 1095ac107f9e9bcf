"""The study driver on a very small synthetic configuration: table, figures, manifest, resume-skip, failures."""

from __future__ import annotations

import csv
import json
import sys

import pytest
from PIL import Image

from monai_ext.tools.reproduce import StudyPaths, load_profile, study_steps
from monai_ext.tools.reproduce.__main__ import main
from monai_ext.tools.reproduce.steps import Step, StepFailed, StepRunner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    assert main(["--profile", "tiny", "--out", str(out), "--backbones", "resnet50"]) == 0
    return out


def test_report_table_figures_and_manifest(study):
    summary = (study / "summary.md").read_text()
    for experiment in ("original CXR", "segmented lung", "CXR without lung"):
        assert f"| resnet50 | {experiment} |" in summary
    assert "probe for shortcuts outside the lungs" in summary and "## Per source" in summary
    assert "mean Dice" in summary
    rows = list(csv.DictReader((study / "results.csv").open()))
    assert {(r["model"], r["experiment"]) for r in rows} >= {("resnet50", m) for m in ("cxr", "lung", "no_lung")}
    for r in rows:
        if r["metric"] == "accuracy":
            assert float(r["ci95_low"]) <= float(r["value"]) <= float(r["ci95_high"])
    results = json.loads((study / "results.json").read_text())
    assert set(results["classification"]) == {"resnet50/cxr", "resnet50/lung", "resnet50/no_lung"}
    for key, run in results["classification"].items():  # fitted on validation, reported on test
        assert run["calibration"]["n_validation"] > 0 and run["overall"]["calibration"]["ece"] >= 0
        if run["calibration"]["threshold"] is not None:
            assert f"| {key} | {run['calibration']['threshold']:.3f} (" in summary
    assert "## Operating threshold and calibration" in summary
    for key, run in results["classification"].items():  # Grad-CAM of every test image, its share in the lungs
        overall = run["saliency"]["overall"]
        assert overall["n_measured"] == overall["n"] == run["overall"]["n"]
        low, high = overall["in_lung"]["ci95"]
        assert 0 <= low <= overall["in_lung"]["value"] <= high <= 1
        assert f"| {key} | {100 * overall['in_lung']['value']:.1f} (" in summary
    # the two-hospital experiment: trained on the first hospital, tested on its held-out patients and the other's
    shortcut = results["shortcut"]
    assert shortcut["hospitals"]["n"] == load_profile("tiny")["shortcut"]["n"]
    for mode in ("cxr", "lung"):
        run = shortcut["runs"][f"resnet50_{mode}"]
        assert run["out_of_source"]["n"] == load_profile("tiny")["shortcut"]["n"] // 2  # every image of hospital B
        assert 0 < run["in_source"]["n"] < run["out_of_source"]["n"]
        assert f"| resnet50 | {mode} | " in summary.split("## A shortcut caught")[1].split("## Leave one")[0]
    # the second hospital's prevalence from its judged images without their labels, beside what the labels say
    for key, site in shortcut["recalibration"].items():
        prior, truth = site["prior_shift"], site["prior_shift"]["true_positive_share"]
        assert prior["n_images"] == truth["n"] and prior["n_images"] + prior["n_left_out"] == site["before"]["n"]
        assert f"| {key} | {prior['n_images']} | " in summary.split("Without labels")[1]
    # leave one source out: each synthetic source (both classes) held out in turn, trained on the others
    loso = results["leave_one_source_out"]
    assert set(loso) == {"synth-a", "synth-b", "synth-c"}
    for source, runs in loso.items():
        held = json.loads((study / "loso" / source / "covidx.json").read_text())
        assert held["test_sources"] == [source] and runs["resnet50_cxr"]["out_of_source"]["n"] == len(held["test"])
        assert f"| without {source}: resnet50 | cxr | " in summary
    for name in ("confusion_matrices", "roc_curves", "reliability", "saliency_grid", "mask_gallery", "training_curves"):
        with Image.open(study / "figures" / f"{name}.png") as img:
            assert img.format == "PNG" and img.size[0] > 200
    manifest = json.loads((study / "manifest.json").read_text())
    assert {"versions", "git_commit", "device", "seeds", "data_list_sha256", "wall_time_s"} <= set(manifest)
    assert "seg_train" in manifest["wall_time_s"] and set(manifest["data_list_sha256"]) == {"qu_ex.json", "covidx.json"}
    gemm = manifest["gemm_gflops"]  # which machine of its kind the study's times come from
    assert gemm["fp32"] > 0 and gemm["bf16"] > 0 and f"GEMM {gemm['size']} x {gemm['size']} on cpu: " in summary


def test_rerun_skips_complete_steps_and_redoes_changed_ones(study, capsys):
    capsys.readouterr()
    assert main(["--profile", "tiny", "--out", str(study), "--backbones", "resnet50"]) == 0
    out = capsys.readouterr().out
    paths = StudyPaths(study, study / "data" / "lung-seg", study / "data" / "covidx")
    steps = study_steps(paths, load_profile("tiny"), backbones=["resnet50"])
    assert "[run ]" not in out and out.count("[skip]") == len(steps) + 1  # and the synthetic-data step
    (study / "cls" / "resnet50_no_lung" / "eval" / "metrics.json").unlink()
    assert main(["--profile", "tiny", "--out", str(study), "--backbones", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("[run ]")] == [
        f"[run ] cls_resnet50_no_lung_evaluate (log: {study / 'logs' / 'cls_resnet50_no_lung_evaluate.log'})"
    ]


def test_failed_step_is_named_with_its_log(tmp_path, capsys):
    code = main(
        [
            "--profile",
            "tiny",
            "--out",
            str(tmp_path / "run"),
            "--qu-ex",
            str(tmp_path / "missing"),
            "--backbones",
            "resnet50",
            "--modes",
            "cxr",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "step 'lists_qu_ex' failed" in err and "lists_qu_ex.log" in err


def _probe_step(tmp_path, work):
    """A step that fails when its work folder holds state of an earlier run ('stale'), and writes 'out'."""
    code = (
        f"import pathlib, sys; w = pathlib.Path({str(work)!r}); "
        "sys.exit(3) if (w / 'stale').exists() else None; w.mkdir(exist_ok=True); (w / 'out').write_text('x')"
    )
    return Step("probe", [sys.executable, "-c", code], [work / "out"], work_dirs=[work])


def test_work_dirs_are_cleared_on_forced_or_changed_reruns_and_kept_when_resuming(tmp_path):
    work = tmp_path / "work"
    StepRunner(tmp_path / "run", log=lambda _: None).run(_probe_step(tmp_path, work))
    (work / "stale").write_text("checkpoint of an earlier run")
    StepRunner(tmp_path / "run", force=True, log=lambda _: None).run(_probe_step(tmp_path, work))
    assert not (work / "stale").exists() and (work / "out").exists()
    # interrupted: the stamp says started, not complete, with the same fingerprint -> state kept (resume)
    stamp = tmp_path / "run" / "steps" / "probe.json"
    record = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({"fingerprint": record["fingerprint"], "complete": False}))
    (work / "stale").write_text("checkpoint to resume from")
    with pytest.raises(StepFailed):  # the probe refuses state, which proves it was kept
        StepRunner(tmp_path / "run", log=lambda _: None).run(_probe_step(tmp_path, work))
    assert (work / "stale").exists()


def test_resume_files_are_deleted_once_the_step_is_complete(tmp_path):
    work = tmp_path / "work"
    code = (
        f"import pathlib; w = pathlib.Path({str(work)!r}); w.mkdir(); "
        "(w / 'checkpoint_epoch=3.pt').write_text('resume state'); (w / 'model.pt').write_text('best')"
    )
    step = Step(
        "train",
        [sys.executable, "-c", code],
        [work / "model.pt"],
        work_dirs=[work],
        resume_files=["checkpoint_epoch=*.pt"],
    )
    StepRunner(tmp_path / "run", log=lambda _: None).run(step)
    assert (work / "model.pt").exists() and not list(work.glob("checkpoint_epoch=*"))


def test_profiles_are_files_read_by_monai_and_set_takes_monai_ids():
    """Each profile is a JSON file over the default one (MONAI's override files); ``--set`` takes MONAI's
    ``#`` ids, reads values as JSON else as text, and refuses a setting the profile has no place for."""
    from monai_ext.errors import SettingError
    from monai_ext.tools.reproduce.profiles import PROFILE_DIR, PROFILES, cls_settings

    assert PROFILES == ("default", "real", "tiny") == tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))
    real = load_profile("real")
    assert real["seg"]["max_epochs"] == 40 and real["val_fraction"] == 0.1
    assert real["n_bootstrap"] == load_profile("default")["n_bootstrap"]  # not in real.json: the default's
    assert real["shortcut"] == load_profile("default")["shortcut"]  # not in real.json either
    changed = load_profile(
        "real", ["seg#max_epochs=1", "cls#pretrained=false", "cls_per_backbone#vgg19_bn#batch_size=4"]
    )
    assert changed["seg"]["max_epochs"] == 1 and changed["cls"]["pretrained"] is False
    assert (
        cls_settings(changed, "vgg19_bn")["batch_size"] == 4 and cls_settings(changed, "resnet50")["batch_size"] == 16
    )
    assert load_profile("real")["seg"]["max_epochs"] == 40  # the file is untouched
    smaller = load_profile("default", ["shortcut#n=100"])["shortcut"]  # an id sets one key, keeps its siblings
    assert smaller == {**load_profile("default")["shortcut"], "n": 100}
    assert load_profile("real", ["cls#note=a b"])["cls"]["note"] == "a b"  # not JSON: text
    for bad, why in (
        ("nope#max_epochs=1", "no setting 'nope'"),
        ("seg#max_epochs", "expected ID=VALUE"),
        ("unknown=1", "no setting 'unknown'"),
        ("cls_per_backbone#alexnet#max_epochs=3", "no section"),
    ):
        with pytest.raises(SettingError, match=why):
            load_profile("real", [bad])
    with pytest.raises(SettingError, match="no profile 'huge'"):
        load_profile("huge")


def test_modes_per_backbone_choose_the_main_tables_runs(tmp_path):
    from monai_ext.errors import SettingError
    from monai_ext.tools.reproduce.profiles import run_modes

    lung_only = load_profile("default", ['modes_per_backbone={"vgg19_bn": ["lung"], "efficientnet_b7": ["lung"]}'])
    assert run_modes(lung_only, "resnet50") == ["cxr", "lung", "no_lung"]
    assert run_modes(lung_only, "vgg19_bn") == run_modes(lung_only, "efficientnet_b7") == ["lung"]
    assert run_modes(lung_only, "vgg19_bn", ("cxr", "no_lung")) == []  # --modes narrows it further
    grid = load_profile("default", ["modes_per_backbone={}"])
    assert run_modes(grid, "vgg19_bn") == ["cxr", "lung", "no_lung"]
    text = load_profile("default", ["modes_per_backbone#vgg19_bn=cxr,no_lung"])
    assert run_modes(text, "vgg19_bn") == ["cxr", "no_lung"]
    with pytest.raises(SettingError, match=r"modes_per_backbone#vgg19_bn: \['lungs'\]"):
        run_modes(load_profile("default", ["modes_per_backbone#vgg19_bn=lungs"]), "vgg19_bn")
    default = lung_only
    paths = StudyPaths(run_dir=tmp_path, qu_ex=tmp_path / "q", covidx=tmp_path / "c", covidx_gt_masks=tmp_path / "g")
    trained = [s.name for s in study_steps(paths, default) if s.name.startswith("cls_") and s.name.endswith("_train")]
    assert trained == [
        "cls_resnet50_cxr_train",
        "cls_resnet50_lung_train",
        "cls_resnet50_no_lung_train",
        "cls_vgg19_bn_lung_train",
        "cls_efficientnet_b7_lung_train",
    ]


def test_real_profile_with_pretrained_weights_out_of_reach_stops_before_any_step(tmp_path, capsys, monkeypatch):
    import socket

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))

    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", offline)
    assert main(["--profile", "real", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "pretrained=True needs the ImageNet weights of fpn_densenet121" in err and "--pretrained False" in err
    assert not (tmp_path / "run").exists()  # nothing ran


def test_the_study_holds_whole_sources_out_when_asked(tmp_path):
    out = tmp_path / "held"
    others = ["shortcut=null", "leave_one_source_out=null"]  # only the main runs
    argv = ["--profile", "tiny", "--out", str(out), "--backbones", "resnet50", "--modes", "cxr"]
    assert main([*argv, "--test-sources", "synth-a", "--set", *others]) == 0
    lists = json.loads((out / "lists" / "covidx.json").read_text())
    assert lists["test_sources"] == ["synth-a"] and set(lists["sources"]["test"]) == {"synth-a"}
    assert "synth-a" not in lists["sources"]["training"] and "synth-a" not in lists["sources"]["test_in_source"]
    results = json.loads((out / "results.json").read_text())
    run = results["held_out_sources"]["resnet50_cxr"]
    assert run["out_of_source"]["n"] == len(lists["test"]) and run["in_source"]["n"] == len(lists["test_in_source"])
    summary = (out / "summary.md").read_text()
    assert "every image of the held-out sources (synth-a)" in summary and "| resnet50 | cxr | " in summary
