"""``python -m monai_ext.apps.pacs serve|load``: start the local Orthanc, or fill a PACS with radiographs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monai_ext.apps.pacs.client import PACS, PACSError, credentials_from

#: where ``make pacs`` keeps Orthanc's storage, and its DICOMweb root
DEFAULT_STORAGE = Path("results/pacs")
DEFAULT_URL = "http://127.0.0.1:8042/dicom-web"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.apps.pacs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Orthanc on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--storage", type=Path, default=DEFAULT_STORAGE)
    serve.add_argument("--port", type=int, default=8042)
    load = commands.add_parser("load", help="store the real RG1_UNCR.dcm and synthetic CR/DX studies (STOW-RS)")
    load.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            from monai_ext.apps.pacs.server import serve as run_server

            return run_server(args.storage, args.port)
        from monai_ext.apps.pacs.load import load_pacs, load_set

        datasets = load_set()
        result = load_pacs(PACS(args.url, credentials=credentials_from()), datasets)
    except (PACSError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for ds in datasets:
        uid = str(ds.SOPInstanceUID)
        said = "stored" if uid in result.stored else f"not stored: {result.failed.get(uid)}"
        print(
            f"{ds.Modality} {ds.PhotometricInterpretation} {ds.file_meta.TransferSyntaxUID.name}: patient "
            f"{ds.PatientID}, study {ds.StudyInstanceUID}: {said}"
        )
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
