"""make weights: weights kept when present; a failed download is reported, leaves nothing behind."""

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


def test_present_weights_are_kept(bundle):
    (bundle / "models" / "model.pt").write_bytes(b"weights")
    assert ensure_weights(bundle) == "present" and (bundle / "models" / "model.pt").read_bytes() == b"weights"


def test_failed_download_is_reported_and_leaves_no_file(bundle, capsys):
    assert download_released(bundle) is False
    assert "could not download the released weights" in capsys.readouterr().out
    assert not (bundle / "models" / "model.pt").exists()
    with pytest.raises(SystemExit, match="--train-if-missing"):
        ensure_weights(bundle)
