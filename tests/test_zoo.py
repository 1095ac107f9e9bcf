"""Model-zoo conformance checks (make verify): both bundles pass; each rule catches what it is for."""

from __future__ import annotations

import json

import pytest
import yaml

from monai_ext.constants import BUNDLE_NAMES, REPO_ROOT
from monai_ext.zoo import (
    CHECKS,
    MAX_FILE_BYTES,
    check_files,
    check_json_format,
    check_large_files,
    check_metadata_schema,
    check_network_data_format,
    check_sizes,
    check_version,
    verify_bundle,
)

BUNDLES = BUNDLE_NAMES
#: every check but the two that build and run the network (their CLI runs are covered by the bundle tests)
FAST = {name: check for name, check in CHECKS.items() if name not in ("verify_net_in_out", "ckpt_export")}


@pytest.fixture
def bundle(seg_bundle):
    return seg_bundle


def _edit_metadata(bundle, change):
    path = bundle / "configs" / "metadata.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta, indent=4) + "\n")


@pytest.mark.parametrize("name", BUNDLES)
def test_repository_bundles_pass(name):
    problems = verify_bundle(REPO_ROOT / "bundles" / name, FAST)
    assert problems == {check: [] for check in FAST}


def test_copy_passes_before_it_is_broken(bundle):
    assert verify_bundle(bundle, FAST) == {check: [] for check in FAST}


def test_missing_license_and_unlisted_weights(bundle):
    (bundle / "LICENSE").unlink()
    (bundle / "large_files.yml").unlink()
    problems = check_files(bundle)
    assert problems == ["missing LICENSE", "models/model.pt is neither in the bundle nor listed in large_files.yml"]


def test_file_above_25_mb_is_refused(bundle):
    with open(bundle / "models" / "big.bin", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    assert any("big.bin" in p and "25 MB" in p for p in check_sizes(bundle))


def test_large_files_entry_needs_url_and_sha256_and_a_matching_local_file(bundle):
    entry = yaml.safe_load((bundle / "large_files.yml").read_text())["large_files"][0]
    (bundle / "models" / "model.pt").write_bytes(b"not the released weights")
    assert any("not the released file" in p for p in check_large_files(bundle))
    (bundle / "models" / "model.pt").unlink()
    (bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [{**entry, "hash_val": "abc"}]}))
    assert any("sha256" in p for p in check_large_files(bundle))
    (bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [{"path": "models/model.pt"}]}))
    assert any("lacks url" in p for p in check_large_files(bundle))


def test_version_must_be_the_newest_changelog_entry(bundle):
    _edit_metadata(bundle, lambda m: m.update(version="0.9.0"))
    assert check_version(bundle) == ["version '0.9.0' is not in the changelog"]
    _edit_metadata(bundle, lambda m: m["changelog"].update({"0.9.0": "newer"}) or m.update(version="0.3.0"))
    assert "not the newest" in check_version(bundle)[0]


def test_json_must_be_formatted_as_the_zoo_does(bundle):
    path = bundle / "configs" / "inference.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2))
    assert check_json_format(bundle) == ["configs/inference.json is not formatted with json.dumps(indent=4) + newline"]


def test_verify_metadata_refuses_a_missing_field_and_an_undescribed_output(bundle):
    _edit_metadata(bundle, lambda m: m.pop("copyright"))
    assert any("verify_metadata failed" in p for p in check_metadata_schema(bundle))
    _edit_metadata(bundle, lambda m: m.update(copyright="Copyright (c) x"))
    _edit_metadata(bundle, lambda m: m["network_data_format"]["outputs"]["pred"].pop("channel_def"))
    assert len(check_metadata_schema(bundle)) == 1 and "verify_metadata failed" in check_metadata_schema(bundle)[0]
    assert check_network_data_format(bundle) == [
        "network_data_format outputs.pred: channel_def does not name all num_channels"
    ]
