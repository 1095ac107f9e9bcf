"""The MONAI Deploy application from and to a PACS: retrieve a study by DICOMweb (WADO-RS), run the app on
it, store its DICOM outputs back (STOW-RS).

    python -m monai_ext.apps.deploy.pacs --pacs http://127.0.0.1:8042/dicom-web --study STUDY_UID \\
        --model MODELS [--export] [--out results/deploy-pacs] [--saliency] [--no-gate]

Per radiograph of the study the PACS receives the lung SEG and the findings SR (TID 1500) in one STOW-RS
request, and with ``--saliency`` the Grad-CAM secondary capture; a radiograph the input gate did not
assess gets its SR only ("Not assessable" and why; no mask is stored for it). The outputs' UIDs are
derived from the source instance and the models (:mod:`monai_ext.apps.pacs.objects`): an object the PACS
already holds is not sent again, so a rerun stores no duplicate.

``<out>/<study>/stored.json`` says, for every radiograph, each object's UID and whether it was stored,
already there, refused (with the PACS's reason) or not made; the run fails, naming the study and the
missing objects, unless every one is in the PACS. A PACS that does not answer (bounded time-outs and
retries), a study that is not there (any more), a study without a chest radiograph: a clear error that
names the study, the exit status 1. A PACS that asks for credentials gets them from the environment
(``CXR_PACS_USERNAME``, ``CXR_PACS_PASSWORD``; :mod:`monai_ext.apps.pacs.client`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydicom
from pydicom.uid import UID

from monai_ext.apps.deploy.finder import find_chest_radiographs
from monai_ext.apps.pacs.client import PACS, PACSError, credentials_from
from monai_ext.apps.pacs.objects import DICOM_OBJECTS
from monai_ext.errors import CXRError
from monai_ext.utils import atomic_path, write_json

__all__ = ["StudyRunError", "run_study"]

logger = logging.getLogger(__name__)

#: the record of what a run stored, in ``<out>/<study>/``
STORED_FILE = "stored.json"


class StudyRunError(CXRError, RuntimeError):
    """A study could not be run from the PACS or its outputs not all stored: the message names the study."""


def _check_uid(uid: str, what: str) -> str:
    if not UID(uid).is_valid:
        raise StudyRunError(f"{what} {uid!r} is not a DICOM UID (digits and dots, at most 64 characters)")
    return uid


def retrieve(pacs: PACS, study_uid: str, folder: Path) -> list[Path]:
    """Every instance of the study into ``folder`` (emptied first), one ``<SOPInstanceUID>.dcm`` each."""
    instances = pacs.retrieve_study(study_uid)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    paths = []
    for ds in instances:
        sop = _check_uid(str(ds.get("SOPInstanceUID", "")), f"study {study_uid}: an instance's SOPInstanceUID")
        with atomic_path(folder / f"{sop}.dcm") as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(folder / f"{sop}.dcm")
    return paths


def _wanted(radiograph: dict[str, Any]) -> list[str]:
    """The objects (:data:`DICOM_OBJECTS` keys) one radiograph should have in the PACS: its SR alone when
    the gate did not assess it, else its SEG and SR, and the secondary capture when one was asked for."""
    if radiograph.get("not_assessed"):
        return ["classification_sr"]
    return ["lung_seg", "classification_sr", *(["saliency_sc"] if "saliency" in radiograph else [])]


def store_outputs(pacs: PACS, results: dict[str, Any]) -> dict[str, Any]:
    """Store each radiograph's objects (one STOW-RS request per radiograph), skipping those the PACS holds;
    the record of :data:`STORED_FILE`, with ``missing``: the objects not in the PACS afterwards."""
    record: dict[str, Any] = {"radiographs": [], "missing": []}
    for radiograph in results["radiographs"]:
        entry: dict[str, Any] = {"SOPInstanceUID": radiograph["SOPInstanceUID"], "objects": {}}
        record["radiographs"].append(entry)
        if "error" in radiograph:
            entry["error"] = radiograph["error"]
            record["missing"].append(f"{radiograph['SOPInstanceUID']}: not read ({radiograph['error']})")
            continue
        to_send = []
        for key in _wanted(radiograph):
            if not radiograph.get(key):  # the app did not write it: say why, as the app said it
                reason = radiograph.get(f"{key}_error", "the application wrote none")
                entry["objects"][key] = {"status": "not made", "reason": reason}
                continue
            ds = pydicom.dcmread(radiograph[key])
            sop = str(ds.SOPInstanceUID)
            entry["objects"][key] = {"SOPInstanceUID": sop, "SeriesInstanceUID": str(ds.SeriesInstanceUID)}
            if pacs.has_instance(sop):
                entry["objects"][key]["status"] = "already stored"
            else:
                to_send.append((key, ds))
        if to_send:
            try:
                answer = pacs.store([ds for _, ds in to_send])
                failed = answer.failed
            except PACSError as e:
                failed = {str(ds.SOPInstanceUID): str(e) for _, ds in to_send}
            for key, ds in to_send:
                sop = str(ds.SOPInstanceUID)
                if sop in failed:
                    entry["objects"][key].update(status="refused", reason=failed[sop])
                else:
                    entry["objects"][key]["status"] = "stored"
        for key, obj in entry["objects"].items():
            if obj["status"] not in ("stored", "already stored"):
                what = DICOM_OBJECTS[key][1]
                record["missing"].append(
                    f"{radiograph['SOPInstanceUID']}: {what} {obj['status']} ({obj.get('reason', '')})"
                )
    return record


def run_app(
    inputs: Path, output: Path, models: Path, cls_bundle: Path | None, saliency: bool, gate: bool
) -> dict[str, Any]:
    """The Deploy application on ``inputs`` in its own process; its ``results.json``."""
    if output.exists():
        shutil.rmtree(output)
    command = [sys.executable, "-m", "monai_ext.apps.deploy.app", "--input", str(inputs), "--output", str(output)]
    command += ["--model", str(models), *(["--cls-bundle", str(cls_bundle)] if cls_bundle else [])]
    command += [*(["--saliency"] if saliency else []), *([] if gate else ["--no-gate"])]
    # the segmentation TorchScript's embedded config finds its bundle as <cwd>/bundles/<name>: the bundles'
    # folder of the classifier's (its sibling), else this process's working directory
    cwd = Path(cls_bundle).resolve().parent.parent if cls_bundle else None
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0 or not (output / "results.json").is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise StudyRunError(f"the Deploy application failed (exit {done.returncode}) on {inputs}:\n{tail}")
    return json.loads((output / "results.json").read_text())


def run_study(
    pacs: PACS,
    study_uid: str,
    models: Path,
    out: Path,
    cls_bundle: Path | None = None,
    saliency: bool = False,
    gate: bool = True,
) -> dict[str, Any]:
    """Retrieve, run, store one study; the record written to ``out/<study>/stored.json``."""
    _check_uid(study_uid, "study")
    work = Path(out) / study_uid
    try:
        retrieve(pacs, study_uid, work / "input")
    except PACSError as e:
        raise StudyRunError(f"study {study_uid}: not retrieved: {e}") from None
    radiographs, skipped = find_chest_radiographs(work / "input")
    if not radiographs:
        why = "; ".join(f"{Path(p).stem}: {r}" for p, r in skipped.items())
        raise StudyRunError(f"study {study_uid}: no chest radiograph to run on ({why})")
    results = run_app(work / "input", work / "output", Path(models), cls_bundle, saliency, gate)
    record = {"study": study_uid, "pacs": pacs.url, "skipped": results["skipped"], **store_outputs(pacs, results)}
    write_json(record, work / STORED_FILE)
    if record["missing"]:
        raise StudyRunError(
            f"study {study_uid}: not every output is in the PACS (see {work / STORED_FILE}): "
            + "; ".join(record["missing"])
        )
    return record


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m monai_ext.apps.deploy.pacs", description=__doc__.splitlines()[0])
    parser.add_argument("--pacs", required=True, help="the DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web")
    parser.add_argument("--study", required=True, nargs="+", help="StudyInstanceUID(s)")
    parser.add_argument(
        "--model", type=Path, required=True, help="the exported models (python -m monai_ext.apps.deploy.demo)"
    )
    parser.add_argument(
        "--export", action="store_true", help="export both bundles' weights into --model first (as the demo does)"
    )
    parser.add_argument("--out", type=Path, default=Path("results/deploy-pacs"))
    parser.add_argument("--cls-bundle", type=Path, default=None)
    parser.add_argument("--saliency", action="store_true", help="store the Grad-CAM map as a secondary capture too")
    parser.add_argument("--no-gate", action="store_true")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--retries", type=int, default=3, help="further tries of a failed connection (default 3)")
    args = parser.parse_args(argv)
    try:
        pacs = PACS(args.pacs, timeout=args.timeout, retries=args.retries, credentials=credentials_from())
        if args.export:
            from monai_ext.apps.deploy.demo import export_models

            export_models(args.model, cls_bundle=args.cls_bundle)
    except (PACSError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    failed = 0
    for study in args.study:  # a study that fails is reported; the others still run
        try:
            record = run_study(pacs, study, args.model, args.out, args.cls_bundle, args.saliency, not args.no_gate)
        except CXRError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        for item in record["radiographs"]:
            said = ", ".join(f"{k} {v['status']}" for k, v in item["objects"].items())
            print(f"study {study}, instance {item['SOPInstanceUID']}: {said}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
