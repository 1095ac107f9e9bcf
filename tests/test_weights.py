"""make weights: weights kept when present and what they claim to be (the released file's hash, or the one their
model folder records), refused otherwise; a failed download is reported, leaves nothing behind.
``pretrained=True`` without cached weights and without network access fails at once, saying what to do."""

from __future__ import annotations

import pytest
import yaml

from monai_ext.weights import download_released, ensure_weights


@pytest.fixture
def bundle(seg_bundle):
    out = seg_bundle
    entry = yaml.safe_load((out / "large_files.yml").read_text())["large_files"][0]
    entry["url"] = "https://127.0.0.1:9/cxr_lung_segmentation_model.pt"  # nothing listens there
    (out / "large_files.yml").write_text(yaml.safe_dump({"large_files": [entry]}))
    return out


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
