"""make weights: weights kept when present and what they claim to be (the released file's hash, or the one their
model folder records), refused otherwise; a failed download is reported, leaves nothing behind.
``pretrained=True`` without cached weights and without network access fails at once, saying what to do."""

from __future__ import annotations

import pytest
import yaml

from monai_ext.constants import CLS_BUNDLE
from monai_ext.tools.weights import REAL_SPLIT, REAL_TRAINING, download_released, ensure_weights, half_precision


@pytest.fixture
def bundle(seg_bundle):
    """The segmentation bundle without weights, with a large_files.yml of a release (none is published:
    the entry is this test's, its URL one nothing listens at)."""
    entry = {
        "path": "models/model.pt",
        "url": "https://127.0.0.1:9/cxr_lung_segmentation_model.pt",
        "hash_val": "0" * 64,
        "hash_type": "sha256",
    }
    (seg_bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [entry]}))
    return seg_bundle


@pytest.mark.slow
def test_half_precision_weights_are_recorded_and_segment_as_the_float32_ones(seg_models, seg_bundle, rg1_paths):
    import shutil

    import numpy as np
    import torch

    from monai_ext import LungSegmenter
    from monai_ext.bundle import read_model_folder
    from monai_ext.utils import file_sha256

    dest = seg_bundle / "models"
    weights = half_precision(seg_models, dest, how="python -m monai.bundle run training ...")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    settings = read_model_folder(dest, seg_bundle.name).settings  # the folder's check passes
    assert settings["model_sha256"] == file_sha256(weights)
    assert settings["precision"]["trained_sha256"] == file_sha256(seg_models / "model.pt")
    assert settings["how"] in (dest / "MODEL_CARD.md").read_text()
    assert ensure_weights(seg_bundle).startswith("present, trained by this project")
    full = seg_bundle.parent / "full" / seg_bundle.name
    shutil.copytree(seg_bundle, full)
    shutil.copy2(seg_models / "model.pt", full / "models" / "model.pt")
    shutil.copy2(seg_models / "settings.json", full / "models" / "settings.json")
    half_mask = LungSegmenter(seg_bundle, device="cpu")(rg1_paths["UNCR"])
    full_mask = LungSegmenter(full, device="cpu")(rg1_paths["UNCR"])
    agree = (half_mask == full_mask).mean()
    assert agree > 0.995, f"float16 and float32 weights' masks agree on {agree:.4f} of the pixels"
    assert np.array_equal(np.unique(half_mask), np.unique(full_mask))


@pytest.mark.slow
def test_the_committed_segmentation_weights_find_both_lungs_of_a_real_radiograph(rg1_paths):
    """The weights a fresh clone has (trained on the real development sample), on the real chest CR of
    pydicom-data, which they never saw: a plausible share of the image, lung on both sides, passes agreeing."""
    from monai_ext import LungSegmenter
    from monai_ext.constants import REPO_ROOT, SEG_BUNDLE

    seg = LungSegmenter(REPO_ROOT / "bundles" / SEG_BUNDLE, device="cpu")
    mask = seg(rg1_paths["UNCR"])
    half = mask.shape[1] // 2
    assert 0.15 < mask.mean() < 0.6, mask.mean()
    assert mask[:, :half].mean() > 0.05 and mask[:, half:].mean() > 0.05


def test_present_weights_are_kept_when_their_hash_is_known_and_refused_otherwise(bundle):
    from monai_ext.bundle import write_model_settings
    from monai_ext.utils import file_sha256

    weights = bundle / "models" / "model.pt"
    weights.write_bytes(b"weights")
    with pytest.raises(SystemExit) as refused:
        ensure_weights(bundle)
    message = str(refused.value)
    assert f"{weights}: sha256 {file_sha256(weights)} is neither the released file's" in message
    assert "not kept, not replaced" in message and weights.read_bytes() == b"weights"  # the user's file stays
    # trained by the project: settings.json records the hash beside the weights
    write_model_settings({"bundle": bundle.name, "model_sha256": file_sha256(weights)}, weights.parent)
    assert ensure_weights(bundle).startswith("present, trained by this project") and weights.read_bytes() == b"weights"
    # the released file: its hash is the one large_files.yml lists
    (weights.parent / "settings.json").unlink()
    entry = yaml.safe_load((bundle / "large_files.yml").read_text())["large_files"][0]
    entry["hash_val"] = file_sha256(weights)
    (bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [entry]}))
    assert ensure_weights(bundle).startswith("present, the released file")


def test_failed_download_is_reported_and_leaves_no_file(bundle, capsys):
    assert download_released(bundle) is False
    assert "could not download the released weights" in capsys.readouterr().out
    assert not (bundle / "models" / "model.pt").exists()
    with pytest.raises(SystemExit, match="--train-if-missing"):
        ensure_weights(bundle)


def test_the_classifier_is_trained_on_the_real_folder_given_and_its_card_says_so(synthetic_root, tmp_path, monkeypatch):
    """make weights' wiring: the folder's data list (grouped by patient, no masks: the whole image) goes to the
    bundle's training command with the recipe, and the model card names the folder (the training is the
    bundle's own, run by CI's make weights; here it is only recorded)."""
    import json
    from pathlib import Path

    from checkout import bundle_source

    bundle = bundle_source(CLS_BUNDLE, tmp_path)
    ran, cards = [], []
    monkeypatch.setattr(
        "monai_ext.tools.weights.subprocess.run", lambda command, check: ran.append([str(c) for c in command])
    )
    monkeypatch.setattr(
        "monai_ext.tools.weights.write_model_card", lambda folder, name, note: cards.append((folder, note))
    )
    folder = synthetic_root / "covidx"
    assert (
        ensure_weights(bundle, True, folder, work=tmp_path / "work") == f"trained on the real radiographs of {folder}"
    )
    (command,) = ran
    assert command[command.index("--config_file") + 1] == str(bundle / "configs" / "train.json")
    assert command[command.index("--dataset_dir") + 1] == str(folder)
    assert " ".join(REAL_TRAINING[CLS_BUNDLE]) in " ".join(command)
    datalist = json.loads(Path(command[command.index("--datalist") + 1]).read_text())
    assert datalist["val_fraction"] == REAL_SPLIT["val_fraction"] and datalist["seed"] == REAL_SPLIT["seed"]
    patients = [{item["patient_id"] for item in datalist[split]} for split in ("training", "validation", "test")]
    assert all(patients) and not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
    assert not any("lung" in item for split in ("training", "validation", "test") for item in datalist[split])
    ((where, note),) = cards
    assert where == bundle / "models" and f"the real radiographs of {folder}" in note and "not for use" in note
    # without a folder: the synthetic recipe, and its card says so
    ran.clear()
    assert ensure_weights(bundle, True, None, work=tmp_path / "work2") == "trained on the synthetic data"
    assert "--datalist" not in ran[0] and "embedded synthetic data" in cards[-1][1]


@pytest.mark.parametrize("network", ["resnet50", "vgg19_bn", "efficientnet_b7", "fpn_densenet121"])
def test_pretrained_without_cache_or_network_fails_at_once_with_what_to_do(network, tmp_path, monkeypatch):
    import socket
    import time

    from monai_ext.networks import FPNDenseNet121, PretrainedWeightsError, TorchVisionClassifier
    from monai_ext.networks.pretrained import pretrained_source

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # empty caches
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))

    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", offline)
    path, url = pretrained_source(network)
    assert str(path).startswith(str(tmp_path)) and not path.exists()
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsError) as raised:
        if network == "fpn_densenet121":
            FPNDenseNet121(pretrained=True)
        else:
            TorchVisionClassifier(network, 2, pretrained=True)
    assert time.monotonic() - start < 5  # before any download is tried
    message = str(raised.value)
    assert str(path) in message and url in message and "--pretrained False" in message
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # a cached file is taken as there (its loading is the library's business)
    from monai_ext.networks import require_pretrained

    assert require_pretrained(True, network) is True and require_pretrained(False, network) is False
