"""A MONAI Label studies folder from the embedded data: synthetic radiographs whose lung masks are
final labels (``labels/final/<id>.png``, 0/1 as MONAI Label saves them), unlabelled images in the
COVIDx layout's formats (PNG, JPEG, DICOM), and the real chest CR ``RG1_UNCR.dcm`` of pydicom-data.

    python -m monai_ext.apps.label.studies --out results/label/studies [--labelled 12]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import numpy as np
from pydicom.data import get_testdata_file

from monai_ext.bundle import default_data_path
from monai_ext.constants import Keys
from monai_ext.data import find_cxr_images, read_cxr, write_png
from monai_ext.tools.synthetic import ensure_default_data

__all__ = ["make_studies"]


def _plain_name(name: str) -> str:
    """A file name that is also a plain image id in MONAI Label's URLs ("COVID-19 (2).png" -> "COVID-19_2_.png")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def make_studies(out: Path, labelled: int = 12, unlabelled: int = 6) -> Path:
    """Write the studies folder ``out`` (replacing an earlier one) and return it."""
    synthetic = Path(default_data_path())
    ensure_default_data(synthetic)
    if out.exists():
        shutil.rmtree(out)
    (out / "labels" / "final").mkdir(parents=True)
    images = sorted((synthetic / "lung-seg").glob("Train/*/images/*.png"))
    for image in images[:: max(1, len(images) // labelled)][:labelled]:  # spread over the classes
        mask = image.parent.parent / "lung masks" / image.name
        name = _plain_name(image.name)
        shutil.copy2(image, out / name)
        write_png((read_cxr(mask)[0] > 0).astype(np.uint8), out / "labels" / "final" / name)
    by_suffix: dict[str, Path] = {}  # one image of each format, then more
    for item in find_cxr_images(synthetic / "covidx" / "test"):
        by_suffix.setdefault(Path(item[Keys.IMAGE]).suffix.lower(), Path(item[Keys.IMAGE]))
    others = [Path(item[Keys.IMAGE]) for item in find_cxr_images(synthetic / "covidx" / "test")]
    for path in list(dict.fromkeys([*by_suffix.values(), *others]))[:unlabelled]:
        shutil.copy2(path, out / _plain_name(path.name))
    shutil.copy2(get_testdata_file("RG1_UNCR.dcm"), out / "RG1_UNCR.dcm")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.apps.label.studies", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--labelled", type=int, default=12)
    args = parser.parse_args(argv)
    out = make_studies(args.out, args.labelled)
    print(
        f"studies: {out} ({len(list(out.glob('*.*')))} images, {len(list((out / 'labels' / 'final').glob('*')))} labelled)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
