"""``python -m monai_ext.tools.data_lists {covid-qu-ex,covidx} --root DIR --out FILE ...``, and
``python -m monai_ext.tools.data_lists site --datalist FILE --n N --out FILE`` (a site's images split for recalibration)."""

from __future__ import annotations

import argparse
import sys

from monai_ext.errors import DataListError
from monai_ext.tools.data_lists.common import format_counts, write_datalist
from monai_ext.tools.data_lists.covid_qu_ex import build_covid_qu_ex
from monai_ext.tools.data_lists.covidx import CLASS_SETS, build_covidx
from monai_ext.tools.data_lists.site import recalibration_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monai_ext.tools.data_lists", description="Build MONAI data-list JSON."
    )
    sub = parser.add_subparsers(dest="dataset", required=True)
    qu = sub.add_parser("covid-qu-ex", help="COVID-QU-Ex 'Lung Segmentation Data': image/mask pairs, Train/Val/Test")
    qu.add_argument("--root", required=True, help="the folder holding Train/, Val/, Test/")
    qu.add_argument("--out", required=True, help="data-list JSON to write")
    qu.add_argument(
        "--test-fraction",
        type=float,
        default=0.0,
        help="without a Test folder: share of Train held out (by patient) as the test split",
    )
    qu.add_argument("--seed", type=int, default=0, help="seed of the held-out test split")
    cx = sub.add_parser("covidx", help="COVIDx CXR-3: train/test lists, patient-grouped validation split")
    cx.add_argument("--root", required=True, help="the folder holding train/, test/, train.txt, test.txt")
    cx.add_argument("--out", required=True, help="data-list JSON to write")
    cx.add_argument("--classes", choices=sorted(CLASS_SETS), default="binary")
    cx.add_argument("--val-fraction", type=float, default=0.1, help="share of train held out for validation")
    cx.add_argument("--seed", type=int, default=0)
    cx.add_argument("--masks", default=None, help="folder of predicted lung masks: adds the 'lung' key")
    cx.add_argument("--train-list", default=None, help="train list file name, instead of train.txt / train_3class.txt")
    cx.add_argument("--test-list", default=None, help="test list file name, instead of test.txt / test_3class.txt")
    cx.add_argument("--no-check-files", action="store_true", help="do not check that image files exist")
    cx.add_argument("--skip-missing", action="store_true", help="drop rows whose file is missing, with a report")
    cx.add_argument(
        "--test-sources",
        default=None,
        help="comma-separated sources held out whole as the test split (train/validation never see them); "
        "the published test images of the other sources become the 'test_in_source' split",
    )
    site = sub.add_parser("site", help="a site's labelled images: a few to recalibrate on, the rest to judge it on")
    site.add_argument("--datalist", required=True, help="the data list holding the site's images")
    site.add_argument("--split", default="test", help="its split of the site's images")
    site.add_argument("--n", type=int, required=True, help="how many to recalibrate on (the 'validation' split)")
    site.add_argument("--seed", type=int, default=0)
    site.add_argument("--out", required=True, help="data-list JSON to write")
    args = parser.parse_args(argv)
    try:
        if args.dataset == "site":
            datalist = recalibration_split(args.datalist, args.n, args.split, args.seed)
        elif args.dataset == "covid-qu-ex":
            datalist = build_covid_qu_ex(args.root, test_fraction=args.test_fraction, seed=args.seed)
        else:
            datalist = build_covidx(
                args.root,
                classes=args.classes,
                val_fraction=args.val_fraction,
                seed=args.seed,
                masks=args.masks,
                train_list=args.train_list,
                test_list=args.test_list,
                check_files=not args.no_check_files,
                skip_missing=args.skip_missing,
                test_sources=[s for s in args.test_sources.split(",") if s] if args.test_sources else None,
            )
    except DataListError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_datalist(datalist, args.out)
    print(f"{args.out} ({datalist.get('dataset', args.dataset)}, classes {datalist['classes']})")
    print(format_counts(datalist))
    if datalist.get("missing_splits"):
        print(f"note: no {', '.join(datalist['missing_splits'])} folder under {args.root}: those splits are empty")
    if datalist.get("held_out"):
        for split, how in datalist["held_out"].items():
            print(
                f"note: {split} split held out of {how['from']} ({how['fraction']:.0%} by patient, seed {how['seed']})"
            )
    if datalist.get("test_sources"):
        print(f"note: test split = every image of {', '.join(datalist['test_sources'])}, held out of training")
    if datalist.get("skipped_missing"):
        print(
            f"skipped {len(datalist['skipped_missing'])} rows whose file is missing, first: {datalist['skipped_missing'][:5]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
