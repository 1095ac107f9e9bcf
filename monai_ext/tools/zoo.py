"""Model-zoo conformance checks of a bundle folder, run by ``make verify``.

Each check returns a list of problems (empty when it passes). The checks follow the model-zoo's
contribution rules and its CI (``ci/verify_bundle.py``): required files, no committed file above
25 MB (larger ones are listed in ``large_files.yml`` with a hash), version and changelog, metadata
against a JSON schema (``python -m monai.bundle verify_metadata``, offline with the repo's schema),
JSON formatted with 4-space indents, the apps of ``supported_apps`` with the properties they read (as
the zoo's ``verify_bundle_properties`` with MONAI's own property lists), ``verify_net_in_out``, and
``ckpt_export`` whose TorchScript ``torch.jit.load`` reads back and computes what the checkpoint computes.
With ``--model-zoo-ci DIR`` (``make verify`` gives ``.ci/model-zoo``) the zoo's own ``verify_bundle.py``
runs too, on a copy of each bundle laid out as the zoo's ``models/`` folder (:func:`model_zoo_ci`).

    python -m monai_ext.tools.zoo bundles/cxr_lung_segmentation bundles/cxr_covid_classification
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from monai_ext import bundle as bundle_package
from monai_ext.bundle import LARGE_FILES, bundle_command, export_torchscript, inference_parser, large_file_entries
from monai_ext.constants import MODEL_FILE, TORCHSCRIPT_FILE
from monai_ext.utils import file_sha256, git_files

__all__ = ["CHECKS", "MAX_FILE_BYTES", "REQUIRED_FILES", "SCHEMA", "model_zoo_ci", "verify_bundle"]

MAX_FILE_BYTES = 25 * 1024 * 1024
REQUIRED_FILES = ("LICENSE", "configs/metadata.json", "configs/inference.json", "docs/README.md")
SCHEMA = Path(bundle_package.__file__).with_name("metadata_schema.json")
#: the applications' folder, whose requirement files are read (a file read: the tools do not import the apps)
_APPS = Path(__file__).resolve().parents[1] / "apps"
NET_ID = "network_def"


def _metadata(bundle: Path) -> dict:
    return json.loads((bundle / "configs" / "metadata.json").read_text())


def _committed_files(bundle: Path) -> list[Path]:
    """Files git would commit under ``bundle``; every file without git."""
    files = git_files(bundle)
    return files if files is not None else [p for p in bundle.rglob("*") if p.is_file()]


def check_files(bundle: Path) -> list[str]:
    """Required files exist; the weights are in ``models/model.pt`` or listed in ``large_files.yml``."""
    problems = [f"missing {name}" for name in REQUIRED_FILES if not (bundle / name).is_file()]
    listed = {entry.get("path") for entry in large_file_entries(bundle)}
    if f"models/{MODEL_FILE}" not in listed and not (bundle / "models" / MODEL_FILE).is_file():
        problems.append(f"models/{MODEL_FILE} is neither in the bundle nor listed in {LARGE_FILES}")
    return problems


def check_sizes(bundle: Path) -> list[str]:
    """No file that would be committed is above 25 MB."""
    return [
        f"{p.relative_to(bundle)} is {p.stat().st_size / 2**20:.1f} MB (limit 25 MB): list it in {LARGE_FILES}"
        for p in _committed_files(bundle)
        if p.stat().st_size > MAX_FILE_BYTES
    ]


def check_large_files(bundle: Path) -> list[str]:
    """Each ``large_files.yml`` entry has a path, an https URL and a hash; a local copy matches its hash."""
    problems = []
    for i, entry in enumerate(large_file_entries(bundle)):
        missing = [key for key in ("path", "url", "hash_val", "hash_type") if not entry.get(key)]
        if missing:
            problems.append(f"{LARGE_FILES} entry {i} lacks {', '.join(missing)}")
            continue
        if not str(entry["url"]).startswith("https://"):
            problems.append(f"{LARGE_FILES} entry {entry['path']}: url is not https")
        if entry["hash_type"] != "sha256" or len(str(entry["hash_val"])) != 64:
            problems.append(f"{LARGE_FILES} entry {entry['path']}: expected a sha256 hash")
            continue
        local = bundle / entry["path"]
        if local.is_file() and file_sha256(local) != entry["hash_val"]:
            problems.append(
                f"{entry['path']} here is not the released file of {LARGE_FILES} (retrained? "
                "update the entry when releasing new weights)"
            )
    return problems


#: the apps a bundle may declare in ``supported_apps``, and where the version this project runs it with is pinned
APP_REQUIREMENTS = {
    "monai-label": ("monailabel", _APPS / "label" / "requirements.txt"),
    "monai-deploy": ("monai-deploy-app-sdk", _APPS / "deploy" / "requirements.txt"),
}


def _pinned(package: str, requirements: Path) -> str | None:
    for line in requirements.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip() == package:
            return version.split("#")[0].strip()
    return None


def check_supported_apps(bundle: Path) -> list[str]:
    """``supported_apps`` names MONAI Label and MONAI Deploy with the versions the project pins for them, and
    the inference config has every property those apps read (MONAI's ``InferProperties`` and
    ``MetaProperties``, which the model zoo's ``ci/verify_bundle.py`` checks for each declared app)."""
    from monai.bundle import create_workflow
    from monai.bundle.properties import InferProperties, MetaProperties

    declared = _metadata(bundle).get("supported_apps")
    if not isinstance(declared, dict) or not declared:
        return ["metadata.json declares no supported_apps: the model zoo skips its check of the apps' properties"]
    problems = []
    for app, (package, requirements) in APP_REQUIREMENTS.items():
        pinned = _pinned(package, requirements)
        if declared.get(app) != pinned:
            problems.append(f"supported_apps.{app} is {declared.get(app)!r}; the project runs {package}=={pinned}")
    problems += [
        f"supported_apps.{app}: not an app this project runs" for app in declared if app not in APP_REQUIREMENTS
    ]
    workflow = create_workflow(  # as the zoo's check_properties: created and initialised
        workflow_type="inference",
        config_file=str(bundle / "configs" / "inference.json"),
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=str(bundle / "configs" / "logging.conf"),
        bundle_root=str(bundle),
    )
    workflow.properties = {**MetaProperties, **InferProperties}
    missing = workflow.check_properties()
    if missing:
        problems.append(f"inference.json lacks the properties {missing} that the supported apps read")
    return problems


def check_version(bundle: Path) -> list[str]:
    """``version`` is a key of ``changelog``, and the newest changelog entry."""
    meta = _metadata(bundle)
    version, changelog = meta.get("version"), meta.get("changelog", {})
    if version not in changelog:
        return [f"version {version!r} is not in the changelog"]
    newest = max(changelog, key=lambda v: tuple(int(x) for x in v.split(".")))
    return [] if newest == version else [f"version {version} is not the newest changelog entry ({newest})"]


def check_json_format(bundle: Path) -> list[str]:
    """Every JSON file is formatted as the zoo's are: 4-space indents, keys in their order, final newline."""
    problems = []
    for path in sorted((bundle / "configs").glob("*.json")):
        text = path.read_text()
        if text != json.dumps(json.loads(text), indent=4, ensure_ascii=False) + "\n":
            problems.append(f"{path.relative_to(bundle)} is not formatted with json.dumps(indent=4) + newline")
    return problems


def check_network_data_format(bundle: Path) -> list[str]:
    """``channel_def`` names every channel of ``image`` and ``pred``; the shapes are checked by ``check_net_in_out``."""
    problems = []
    fmt = _metadata(bundle).get("network_data_format", {})
    for group, key in (("inputs", "image"), ("outputs", "pred")):
        tensor = fmt.get(group, {}).get(key, {})
        if len(tensor.get("channel_def", {})) != tensor.get("num_channels"):
            problems.append(f"network_data_format {group}.{key}: channel_def does not name all num_channels")
    return problems


def _bundle_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(bundle_command(*args), capture_output=True, text=True, check=False)


def _cli_problems(result: subprocess.CompletedProcess, what: str) -> list[str]:
    if result.returncode == 0:
        return []
    tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
    return [f"{what} failed: {' | '.join(tail)}"]


def check_metadata_schema(bundle: Path) -> list[str]:
    """``python -m monai.bundle verify_metadata`` against the repo's schema (no download: the file exists)."""
    return _cli_problems(
        _bundle_cli(
            "verify_metadata", "--meta_file", str(bundle / "configs" / "metadata.json"), "--filepath", str(SCHEMA)
        ),
        "verify_metadata",
    )


def check_net_in_out(bundle: Path) -> list[str]:
    """``python -m monai.bundle verify_net_in_out`` with the inference config's network."""
    return _cli_problems(
        _bundle_cli(
            "verify_net_in_out",
            NET_ID,
            "--meta_file",
            str(bundle / "configs" / "metadata.json"),
            "--config_file",
            str(bundle / "configs" / "inference.json"),
            "--bundle_root",
            str(bundle),
        ),
        "verify_net_in_out",
    )


def _example_input(bundle: Path) -> torch.Tensor:
    image = _metadata(bundle)["network_data_format"]["inputs"]["image"]
    shape = [64 if isinstance(s, str) else int(s) for s in image["spatial_shape"]]  # "32*n" -> 64
    return torch.rand(1, image["num_channels"], *shape)


def check_export(bundle: Path) -> list[str]:
    """``ckpt_export`` of ``models/model.pt`` (or, without trained weights, of a freshly initialised network),
    then ``torch.jit.load`` of the TorchScript and the same output as the checkpoint's network."""
    parser = inference_parser(bundle, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = bundle / "models" / MODEL_FILE
        if not ckpt.is_file():
            ckpt = Path(tmp) / MODEL_FILE
            torch.save(parser.get_parsed_content(NET_ID).state_dict(), ckpt)
        ts_file = Path(tmp) / TORCHSCRIPT_FILE
        problems = _cli_problems(export_torchscript(bundle, ts_file, ckpt, NET_ID), "ckpt_export")
        if problems:
            return problems
        scripted = torch.jit.load(str(ts_file), map_location="cpu").eval()
        net = parser.get_parsed_content(NET_ID).eval()
        net.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
        x = _example_input(bundle)
        with torch.no_grad():
            if not torch.allclose(scripted(x), net(x), atol=1e-4):
                problems.append("the TorchScript's output differs from the checkpoint's network")
    return problems


#: check name -> function, in the order ``make verify`` runs them
CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "files": check_files,
    "sizes": check_sizes,
    "large_files": check_large_files,
    "version": check_version,
    "json_format": check_json_format,
    "network_data_format": check_network_data_format,
    "verify_metadata": check_metadata_schema,
    "supported_apps": check_supported_apps,
    "verify_net_in_out": check_net_in_out,
    "ckpt_export": check_export,
}


def verify_bundle(bundle: Path, checks: dict[str, Callable[[Path], list[str]]] = CHECKS) -> dict[str, list[str]]:
    """Run ``checks`` on ``bundle``; return the problems of each check (empty lists when it passes)."""
    return {name: check(Path(bundle).resolve()) for name, check in checks.items()}


def model_zoo_ci(bundle: Path, ci_dir: Path, timeout: float = 900) -> list[str]:
    """The model zoo's own ``ci/verify_bundle.py`` (in ``ci_dir``, with its ``utils.py`` and
    ``bundle_custom_data.py``) run in full mode on a copy of ``bundle`` (without its ``eval/`` outputs), in
    a ``models/`` folder as the zoo's, with what its CI would download put in place: an empty
    ``model_info.json`` (no version published) and the schema as ``eval/schema.json``. The bundle itself is
    not touched. Returns one problem naming the script's last line when it fails, else none."""
    bundle = Path(bundle).resolve()
    script = Path(ci_dir).resolve() / "verify_bundle.py"
    if not script.is_file():
        return [f"{script}: the model zoo's verify_bundle.py is not there"]
    with tempfile.TemporaryDirectory(prefix="model-zoo-ci-") as tmp:
        models = Path(tmp) / "models"
        copy = models / bundle.name
        shutil.copytree(bundle, copy, ignore=lambda folder, names: ["eval"] if Path(folder) == bundle else [])
        (copy / "eval").mkdir()
        shutil.copy2(SCHEMA, copy / "eval" / "schema.json")
        (models / "model_info.json").write_text("{}\n")
        args = [sys.executable, str(script), "-b", bundle.name, "-p", str(models), "-m", "full"]
        proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode == 0:
        return []
    lines = (proc.stdout + proc.stderr).strip().splitlines() or ["(no output)"]
    return [f"{script.name} -m full exited {proc.returncode}: {lines[-1]}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.zoo", description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="bundle folders")
    parser.add_argument("--model-zoo-ci", type=Path, help="a folder of the model zoo's ci/verify_bundle.py: run it too")
    args = parser.parse_args(argv)
    failed = 0
    for bundle in args.bundles:
        print(f"{bundle}:")
        results = verify_bundle(bundle)
        if args.model_zoo_ci:
            results["model zoo's verify_bundle.py"] = model_zoo_ci(bundle, args.model_zoo_ci)
        for name, problems in results.items():
            print(f"  [{'ok' if not problems else 'FAIL'}] {name}")
            for problem in problems:
                print(f"         {problem}")
            failed += bool(problems)
        if not (bundle / "models" / MODEL_FILE).is_file():
            print(f"  note: no models/{MODEL_FILE} here; ckpt_export used a freshly initialised network")
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
