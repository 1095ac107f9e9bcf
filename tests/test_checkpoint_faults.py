"""Training survives a kill at every point of every checkpoint save, in both bundles.

Each scenario trains in a child process that dies (``os._exit``) at one stage of one save (see
``fault_injection.py``), then reruns the same command. Asserted each time: the fault fired; every
``model.pt`` and resume checkpoint on disk loads; the rerun resumes from the newest *complete*
resume checkpoint; in the end ``model.pt`` holds the weights whose validation score is the best of
the run's timeline (the epochs kept from the killed run plus those of the rerun), that best is what
the resume state records, and no older checkpoint or temporary file is left.
"""

from __future__ import annotations

import re

import pytest
import torch
from conftest import REPO
from fault_injection import FAULT_EXIT, STAGES, train_in_child
from monai.bundle import ConfigParser

from monai_ext.bundle import bundle_command, override_args
from monai_ext.handlers import latest_checkpoint
from monai_ext.tools.data_lists import build_covid_qu_ex, build_covidx, write_datalist

pytestmark = pytest.mark.slow
EPOCHS = 3
_METRICS = re.compile(r"Epoch\[(\d+)\] Metrics -- .*?{metric}: (-?[0-9.]+)")
_SAVED = re.compile(r"saved .*model\.pt \(\S+ -?[0-9.]+, epoch (\d+)\)")


def _bundle(name, synthetic_root, work):
    if name == "seg":
        datalist = work / "seg.json"
        write_datalist(build_covid_qu_ex(synthetic_root / "lung-seg"), datalist)
        config = REPO / "bundles" / "cxr_lung_segmentation" / "configs" / "train.json"
        overrides = {
            "dataset_dir": str(synthetic_root / "lung-seg"),
            "datalist": str(datalist),
            "image_size": 32,
            "batch_size": 4,
        }
        return config, "val_mean_dice", overrides
    datalist = work / "cls.json"
    write_datalist(
        build_covidx(
            synthetic_root / "covidx",
            classes="binary",
            val_fraction=0.25,
            seed=0,
            masks=synthetic_root / "covidx-lung-gt",
        ),
        datalist,
    )
    config = REPO / "bundles" / "cxr_covid_classification" / "configs" / "train.json"
    overrides = {
        "dataset_dir": str(synthetic_root / "covidx"),
        "mask_dir": str(synthetic_root / "covidx-lung-gt"),
        "datalist": str(datalist),
        "image_size": 32,
        "batch_size": 8,
        "learning_rate": 0.003,
        # a small network of the same bundle wiring keeps each of the many checkpoint writes short
        "network_def": {"_target_": "torchvision.models.mobilenet_v3_small", "num_classes": "@num_classes"},
    }
    return config, "val_log_likelihood", overrides


class Scorer:
    """The validation score of a ``model.pt``, computed with the bundle's own validation evaluator."""

    def __init__(self, config, overrides, metric):
        self.parser = ConfigParser()
        self.parser.read_config(str(config))
        self.parser.update({**overrides, "validate#handlers": []})
        self.evaluator = self.parser.get_parsed_content("validate#evaluator")
        self.network = self.parser.get_parsed_content("network")
        self.metric = metric

    def __call__(self, path) -> float:
        self.network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.evaluator.run()
        return float(self.evaluator.state.metrics[self.metric])


@pytest.fixture(scope="module", params=["seg", "cls"])
def bundle(request, synthetic_root, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"faults-{request.param}")
    config, metric, overrides = _bundle(request.param, synthetic_root, work)
    overrides.update({"num_workers": 0, "max_epochs": EPOCHS})
    # an uninterrupted reference run (training is deterministic for a seed): at which epochs is model.pt saved?
    run = _paths(work / "reference", overrides)
    assert train_in_child(config, run, work / "reference.log") == 0, (work / "reference.log").read_text()[-3000:]
    saves = [int(e) for e in _SAVED.findall((work / "reference.log").read_text())]
    assert saves and saves[0] == 1, "the first validation always gives a first best model"
    return {
        "name": request.param,
        "work": work,
        "config": config,
        "metric": metric,
        "overrides": overrides,
        "model_saves": saves,
        "scorer": Scorer(config, overrides, metric),
    }


def _paths(folder, overrides):
    return {**overrides, "output_dir": str(folder / "train"), "ckpt_dir": str(folder / "models")}


def _scores(log: str, metric: str) -> dict[int, float]:
    return {int(e): float(v) for e, v in re.findall(_METRICS.pattern.format(metric=metric), log)}


def _loads(path) -> None:
    torch.load(path, map_location="cpu", weights_only=True)


SCENARIOS = [("checkpoint", stage) for stage in STAGES] + [("model", stage) for stage in STAGES]


@pytest.mark.parametrize(("target", "stage"), SCENARIOS)
def test_a_kill_at_any_point_of_a_save_loses_nothing(bundle, target, stage):
    folder = bundle["work"] / f"{target}-{stage}"
    run = _paths(folder, bundle["overrides"])
    models, train = folder / "models", folder / "train"
    if target == "checkpoint":
        nth, resumed = 2, 2 if stage == "after_rename" else 1  # the save of epoch 2; complete only once renamed
    else:
        nth = len(bundle["model_saves"])  # the last new best of the reference run: epoch 1 or later
        resumed = bundle["model_saves"][-1]  # model.pt is written after that epoch's resume checkpoint
    killed_log, rerun_log = folder / "killed.log", folder / "rerun.log"
    code = train_in_child(bundle["config"], run, killed_log, target=target, stage=stage, nth=nth)
    assert code == FAULT_EXIT, killed_log.read_text()[-3000:]

    # after the kill: whatever is on disk under a final name is complete
    if (models / "model.pt").exists():
        _loads(models / "model.pt")
    newest = latest_checkpoint(train)
    assert newest is not None and newest.name == f"checkpoint_epoch={resumed}.pt"
    _loads(newest)

    assert train_in_child(bundle["config"], run, rerun_log) == 0, rerun_log.read_text()[-3000:]
    rerun = rerun_log.read_text()
    assert f"resuming from {newest}" in rerun

    metric = bundle["metric"]
    kept = {e: s for e, s in _scores(killed_log.read_text(), metric).items() if e <= resumed}
    timeline = {**kept, **_scores(rerun, metric)}
    assert sorted(timeline) == list(range(1, EPOCHS + 1))
    final = torch.load(train / f"checkpoint_epoch={EPOCHS}.pt", map_location="cpu", weights_only=True)
    recorded = final["best_model"]["score"]
    assert recorded == pytest.approx(max(timeline.values()), abs=1e-4)
    assert final["best_model"]["epoch"] == min(e for e, s in timeline.items() if s == pytest.approx(recorded, abs=1e-4))
    assert bundle["scorer"](models / "model.pt") == pytest.approx(recorded, abs=1e-5)
    assert sorted(p.name for p in train.glob("*.pt")) == [f"checkpoint_epoch={EPOCHS}.pt"]
    assert not list(folder.rglob(".*.tmp*"))


def test_a_resume_checkpoint_of_another_run_is_refused_with_one_line(synthetic_root, tmp_path):
    import subprocess

    from conftest import run_cli

    seg_config, _, seg = _bundle("seg", synthetic_root, tmp_path)
    cls_config, _, cls = _bundle("cls", synthetic_root, tmp_path)
    folder = tmp_path / "shared_output"

    def cli(config, overrides, **extra):
        args = {
            **overrides,
            "output_dir": str(folder),
            "ckpt_dir": str(tmp_path / "models" / config.parent.parent.name),
            "max_epochs": 1,
            "num_workers": 0,
            **extra,
        }
        args.pop("network_def", None)  # the bundle's own network, as a user runs it
        return bundle_command("run", "training", "--config_file", config, *override_args(args))

    run_cli(cli(seg_config, seg))
    checkpoint = folder / "checkpoint_epoch=1.pt"
    proc = subprocess.run(cli(cls_config, cls), capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = next(x for x in out.splitlines() if "ResumeMismatchError:" in x)
    assert (
        f"{checkpoint}: this resume checkpoint is not this run's: it holds cxr_lung_segmentation (FPNDenseNet121"
        in line
    )
    assert "this run is cxr_covid_classification (TorchVisionClassifier" in line
    assert "Give another --output_dir, or pass --resume False" in line
    assert "size mismatch" not in out and "Missing key(s)" not in out  # no state-dict dump

    run_cli(cli(cls_config, cls, resume=False))  # the explicit way on: start fresh, the old file replaced
    record = torch.load(checkpoint, map_location="cpu", weights_only=True)["run"]
    assert record["bundle"] == "cxr_covid_classification" and record["settings"]["backbone"] == "resnet50"

    proc = subprocess.run(
        cli(cls_config, cls, backbone="vgg19_bn"), capture_output=True, text=True, timeout=600, check=False
    )
    assert (
        proc.returncode != 0 and "it holds cxr_covid_classification (TorchVisionClassifier" in proc.stdout + proc.stderr
    )
    assert "backbone resnet50" in proc.stdout + proc.stderr and "backbone vgg19_bn" in proc.stdout + proc.stderr
