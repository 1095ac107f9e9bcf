"""Put weights in both bundles' ``models/`` (``make weights``), for MONAI Label and MONAI Deploy.

For each bundle, in order: keep ``models/model.pt`` when it is there and is what it claims to be (its
SHA-256 is the one the model folder's ``settings.json`` records, which the project's training writes
beside the weights it saves, or a released file's in a ``large_files.yml``; any other file is refused,
not kept and not replaced); else download the released file a ``large_files.yml`` lists (checked against
its hash), as the model-zoo's CI does; else, with ``--train-if-missing``, train small weights through the
bundle's own ``training`` command (about a minute each on a CPU), whose model card then says so: the
classifier on the real radiographs of a COVIDx-layout folder when ``--real-covidx`` names one (``make
weights`` names the development sample, ``DEV_SAMPLE``, when it is there), so that the gate knows a real
radiograph; else on the embedded synthetic data, and the gate is then right to refuse real radiographs.
Those are for trying the integrations, not for use.

The segmentation bundle's committed weights were made by :func:`half_precision` from its training's
model folder (``--half-precision SOURCE DEST --how "the training command"``).

    python -m monai_ext.tools.weights [--train-if-missing [--real-covidx FOLDER]]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

import torch

from monai_ext.bundle import LARGE_FILES, ModelSettingsError, bundle_command, large_file_entries, read_model_folder
from monai_ext.bundle.model_card import write_model_card
from monai_ext.bundle.model_folder import write_model_settings
from monai_ext.constants import CLS_BUNDLE, MODEL_FILE, REPO_ROOT, SEG_BUNDLE, SETTINGS_FILE
from monai_ext.tools.data_lists import build_covidx, write_datalist
from monai_ext.utils import atomic_path, file_sha256

__all__ = [
    "BUNDLES",
    "REAL_TRAINING",
    "SMOKE_TRAINING",
    "download_released",
    "ensure_weights",
    "half_precision",
    "present_weights",
]

BUNDLES = REPO_ROOT / "bundles"
#: bundle -> overrides of its train.json for small synthetic-data weights
SMOKE_TRAINING = {
    SEG_BUNDLE: ["--image_size", "128", "--max_epochs", "3"],
    CLS_BUNDLE: ["--backbone", "resnet50", "--input_mode", "lung", "--image_size", "96", "--max_epochs", "3"],
}

#: bundle -> overrides of its train.json for small weights on the real radiographs of a COVIDx-layout folder
#: (the whole image: its masks would first have to be predicted)
REAL_TRAINING = {
    CLS_BUNDLE: ["--backbone", "resnet50", "--input_mode", "cxr", "--image_size", "128", "--max_epochs", "6"],
}
#: the validation share and seed of that folder's data list (grouped by patient, stratified by class)
REAL_SPLIT = {"val_fraction": 0.15, "seed": 0}

#: what the model card of weights that make weights trained says about them
SMOKE_NOTE = (
    "Trained by `make weights` on the embedded synthetic data ({args}), "
    "because no weights of this bundle are published: for trying the integrations, not for use. "
    "On a real radiograph its gate is right to doubt it. Written {date}."
)
REAL_NOTE = (
    "Trained by `make weights` on the real radiographs of {root} ({args}; validation: {val_fraction:g} of its "
    "training list, seed {seed}), because no weights of this bundle are published: for trying the "
    "integrations on real radiographs, not for use. Where that folder's classes come from different sources "
    "(the development sample's do), it tells the sources apart as much as the disease. Written {date}."
)


def half_precision(source: str | Path, dest: str | Path, how: str) -> Path:
    """A copy of the segmentation model folder ``source`` in ``dest`` whose weights are stored in half
    precision (float16: half the bytes, within the model zoo's 25 MB for a committed file; the network still
    computes in float32, its parameters loaded from these), ``settings.json`` recording the new file's
    SHA-256 beside the float32 file's and ``how`` it was trained, and the model card written again.
    Returns the new weights' path."""
    model = read_model_folder(source, SEG_BUNDLE)  # checked: its settings record these weights
    state = torch.load(model.weights, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest / MODEL_FILE) as tmp:
        torch.save(half, tmp)
    settings = {
        **model.settings,
        "model_sha256": file_sha256(dest / MODEL_FILE),
        "precision": {"stored": "float16", "trained": "float32", "trained_sha256": model.settings["model_sha256"]},
        "how": how,
    }
    write_model_settings(settings, dest)
    note = f"Trained with `{how}`; the weights stored in half precision (float16) by `monai_ext.tools.weights.half_precision`."
    write_model_card(dest, SEG_BUNDLE, note=note)
    return dest / MODEL_FILE


def download_released(bundle: Path) -> bool:
    """Download every ``large_files.yml`` entry of ``bundle``; False (and a message) when it cannot."""
    from monai.apps.utils import download_url

    entries = large_file_entries(bundle)
    try:
        for entry in entries:
            download_url(
                url=entry["url"],
                filepath=bundle / entry["path"],
                hash_val=entry["hash_val"],
                hash_type=entry["hash_type"],
                progress=False,
            )
    except Exception as e:  # noqa: BLE001 - offline, moved, or a hash mismatch: all mean no released weights here
        print(f"{bundle.name}: could not download the released weights ({type(e).__name__}: {e})")
        (bundle / "models" / MODEL_FILE).unlink(missing_ok=True)
        return False
    return bool(entries)


def present_weights(bundle: Path) -> str | None:
    """Where the bundle's ``models/model.pt`` is known to come from, by its SHA-256: the released file
    (``large_files.yml``) or the project's training (the model folder's ``settings.json``); None when
    there is no such file.

    Raises:
        SystemExit: the file is neither (a message naming it, its hash and what to do).
    """
    weights = bundle / "models" / MODEL_FILE
    if not weights.is_file():
        return None
    digest = file_sha256(weights)
    released = [e["hash_val"] for e in large_file_entries(bundle) if e.get("path") == f"models/{MODEL_FILE}"]
    if digest in released:
        return "present, the released file (sha256 as in large_files.yml)"
    try:
        settings = read_model_folder(weights.parent, bundle.name).settings
    except ModelSettingsError:
        settings = {}
    if settings.get("model_sha256") == digest:
        return f"present, trained by this project (sha256 as its {SETTINGS_FILE} records)"
    raise SystemExit(
        f"{weights}: sha256 {digest} is neither the released file's ({', '.join(released) or 'none listed'} in "
        f"{bundle / LARGE_FILES}) nor the one its {SETTINGS_FILE} records: not kept, not replaced. Move it away "
        "(make weights then downloads or trains weights), or train it with the bundle's training command"
    )


def ensure_weights(
    bundle: Path, train_if_missing: bool = False, real_covidx: str | Path | None = None, work: Path | None = None
) -> str:
    """Make sure ``bundle/models/model.pt`` exists and is what it claims to be; return where it came from.
    Weights trained here learn from ``real_covidx`` (a COVIDx-layout folder) where the bundle has a
    :data:`REAL_TRAINING` recipe, else from the synthetic data; the training's own outputs (and the data
    list of ``real_covidx``) go to ``work`` (default ``results/weights/<bundle>``)."""
    name = bundle.name
    if present := present_weights(bundle):
        return present
    if download_released(bundle):
        return "downloaded"
    if not train_if_missing:
        raise SystemExit(
            f"{bundle / 'models' / MODEL_FILE} is missing; rerun with --train-if-missing "
            "to train small weights on the synthetic data"
        )
    out = work or REPO_ROOT / "results" / "weights" / name
    date = datetime.date.today().isoformat()
    if real_covidx is not None and name in REAL_TRAINING:
        datalist = out / "datalist.json"  # read before the training writes anything (bad rows: an error naming them)
        data = build_covidx(real_covidx, **REAL_SPLIT)
        write_datalist(data, datalist)
        args = [*REAL_TRAINING[name], "--datalist", str(datalist), "--dataset_dir", str(Path(real_covidx))]
        note = REAL_NOTE.format(root=real_covidx, args=" ".join(REAL_TRAINING[name]), date=date, **REAL_SPLIT)
        where = f"the real radiographs of {real_covidx}"
    else:
        args, note, where = (
            SMOKE_TRAINING[name],
            SMOKE_NOTE.format(args=" ".join(SMOKE_TRAINING[name]), date=date),
            "the synthetic data",
        )
    print(f"{name}: training small weights on {where} ({' '.join(args)})")
    subprocess.run(
        bundle_command(
            "run", "training", "--config_file", bundle / "configs" / "train.json", "--output_dir", out, *args
        ),
        check=True,
    )
    write_model_card(bundle / "models", name, note=note)
    return f"trained on {where}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.weights", description=__doc__.splitlines()[0])
    parser.add_argument("--train-if-missing", action="store_true")
    parser.add_argument(
        "--real-covidx", type=Path, help="a COVIDx-layout folder of real radiographs to train the classifier on"
    )
    parser.add_argument("--half-precision", nargs=2, metavar=("SOURCE", "DEST"), help="see half_precision")
    parser.add_argument("--how", help="the command that trained SOURCE (with --half-precision)")
    args = parser.parse_args(argv)
    if args.half_precision:
        if not args.how:
            parser.error("--half-precision needs --how: the command that trained the weights")
        print(half_precision(*args.half_precision, how=args.how))
        return 0
    for name in SMOKE_TRAINING:  # segmentation first: the classifier's masks come from it
        print(f"{name}: {ensure_weights(BUNDLES / name, args.train_if_missing, args.real_covidx)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
