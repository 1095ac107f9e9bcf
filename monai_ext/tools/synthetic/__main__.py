"""``python -m monai_ext.tools.synthetic --out DIR [--n-seg N] [--n-cls N] [--size PX] [--seed S] [--two-hospitals]``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from monai_ext.tools.synthetic.dataset import DEFAULTS, write_synthetic_dataset
from monai_ext.tools.synthetic.hospitals import write_two_hospitals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monai_ext.tools.synthetic",
        description="Write a deterministic synthetic chest X-ray dataset in the COVID-QU-Ex and COVIDx CXR-3 layouts.",
    )
    parser.add_argument("--out", required=True, help="output folder (lung-seg/, covidx/, covidx-lung-gt/ go inside)")
    parser.add_argument("--n-seg", type=int, default=DEFAULTS["n_seg"], help="images in the lung segmentation set")
    parser.add_argument("--n-cls", type=int, default=DEFAULTS["n_cls"], help="images in the classification set")
    parser.add_argument("--size", type=int, default=DEFAULTS["size"], help="image side in pixels")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed; same seed, same bytes")
    parser.add_argument(
        "--two-hospitals",
        action="store_true",
        help="instead: the shortcut experiment's two hospitals (covidx/ with --n-cls images, covidx-lung-gt/)",
    )
    args = parser.parse_args(argv)
    start = time.time()
    try:
        if args.two_hospitals:
            manifest = write_two_hospitals(args.out, args.n_cls, args.size, args.seed)
            print(json.dumps(manifest["markers"]), f"written to {args.out} in {time.time() - start:.1f}s")
            return 0
        manifest = write_synthetic_dataset(args.out, args.n_seg, args.n_cls, args.size, args.seed)
    except ValueError as e:
        parser.error(str(e))
    print(
        json.dumps({k: manifest[k] for k in ("lung-seg", "covidx")}),
        f"written to {args.out} in {time.time() - start:.1f}s",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
