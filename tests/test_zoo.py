"""Model-zoo conformance checks (make verify): both bundles pass; each rule catches what it is for."""

from __future__ import annotations

import json

import pytest
import yaml
from checkout import source_copy

from monai_ext.constants import BUNDLE_NAMES, CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.tools.zoo import (
    CHECKS,
    MAX_FILE_BYTES,
    check_files,
    check_json_format,
    check_large_files,
    check_metadata_schema,
    check_network_data_format,
    check_sizes,
    check_supported_apps,
    check_version,
    model_zoo_ci,
    verify_bundle,
)

pytestmark = pytest.mark.slow  # runs the bundles' command lines (seconds to a minute each)

BUNDLES = BUNDLE_NAMES
#: every check but the two that build and run the network (their CLI runs are covered by the bundle tests)
FAST = {name: check for name, check in CHECKS.items() if name not in ("verify_net_in_out", "ckpt_export")}


@pytest.fixture
def bundle(tmp_path):
    """The segmentation bundle as a clone has it: its weights committed."""
    return source_copy(f"bundles/{SEG_BUNDLE}", tmp_path)


def _edit_metadata(bundle, change):
    path = bundle / "configs" / "metadata.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta, indent=4) + "\n")


@pytest.mark.parametrize("name", BUNDLES)
def test_repository_bundles_pass_with_the_weights_make_weights_gives(name, tmp_path, cls_models):
    """Both bundles as a clone has them, the classifier with weights trained by its own command (as make
    weights trains them; none are committed), beside each other as in bundles/."""
    import shutil

    source_copy(f"bundles/{SEG_BUNDLE}", tmp_path)
    classifier = source_copy(f"bundles/{CLS_BUNDLE}", tmp_path)
    shutil.copytree(cls_models, classifier / "models", dirs_exist_ok=True)
    # outside a git checkout every file counts as committed, and the classifier's 90 MB are not committed in
    # the repository (git-ignored): its size rule is the one check left to test_file_above_25_mb_is_refused
    checks = {k: v for k, v in FAST.items() if not (name == CLS_BUNDLE and k == "sizes")}
    problems = verify_bundle(tmp_path / name, checks)
    assert problems == {check: [] for check in checks}


def test_a_bundle_without_supported_apps_or_with_other_versions_is_named(bundle):
    _edit_metadata(bundle, lambda m: m.pop("supported_apps"))
    assert check_supported_apps(bundle) == [
        "metadata.json declares no supported_apps: the model zoo skips its check of the apps' properties"
    ]
    _edit_metadata(bundle, lambda m: m.update(supported_apps={"monai-label": "0.7.0", "monai-deploy": "4.0.0"}))
    assert check_supported_apps(bundle) == ["supported_apps.monai-label is '0.7.0'; the project runs monailabel==0.8.5"]


def test_copy_passes_before_it_is_broken(bundle):
    assert verify_bundle(bundle, FAST) == {check: [] for check in FAST}


def test_missing_license_and_unlisted_weights(bundle):
    (bundle / "LICENSE").unlink()
    (bundle / "models" / "model.pt").unlink()
    problems = check_files(bundle)
    assert problems == ["missing LICENSE", "models/model.pt is neither in the bundle nor listed in large_files.yml"]


def test_file_above_25_mb_is_refused(bundle):
    with open(bundle / "models" / "big.bin", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    assert any("big.bin" in p and "25 MB" in p for p in check_sizes(bundle))


def test_large_files_entry_needs_url_and_sha256_and_a_matching_local_file(bundle):
    entry = {"path": "models/model.pt", "url": "https://example.org/model.pt", "hash_val": "0" * 64}
    entry["hash_type"] = "sha256"
    (bundle / "large_files.yml").write_text(yaml.safe_dump({"large_files": [entry]}))
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


def test_the_model_zoos_own_verify_bundle_passes_and_refuses_what_the_zoo_refuses(bundle):
    """The zoo's ci/verify_bundle.py (vendored, .ci/model-zoo) on the bundle as a clone has it, then on a
    copy whose version the changelog does not know, and one without its weights; the bundle is not touched."""
    zoo_ci = REPO_ROOT / ".ci" / "model-zoo"
    before = sorted(p.relative_to(bundle) for p in bundle.rglob("*"))
    assert model_zoo_ci(bundle, zoo_ci) == []
    assert sorted(p.relative_to(bundle) for p in bundle.rglob("*")) == before
    version = json.loads((bundle / "configs" / "metadata.json").read_text())["version"]
    _edit_metadata(bundle, lambda m: m.update(version="9.9.9"))
    refused = "ValueError: version number: 9.9.9 is missing in 'changelog' in configs/metadata.json of bundle"
    assert model_zoo_ci(bundle, zoo_ci) == [f"verify_bundle.py -m full exited 1: {refused}: {SEG_BUNDLE}."]
    _edit_metadata(bundle, lambda m: m.update(version=version))
    (bundle / "models" / "model.pt").unlink()
    assert model_zoo_ci(bundle, zoo_ci) == [
        "verify_bundle.py -m full exited 1: ValueError: necessary file models/model.pt is not existing."
    ]
