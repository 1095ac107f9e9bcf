"""``python -m monai_ext.tools.reproduce [--profile default|real|tiny] [--qu-ex DIR] [--covidx DIR] [--out DIR] [--force] [--test-sources A,B] [--set ID=VALUE ...]``

Runs the whole study through the bundles' own commands and writes ``<out>/summary.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from monai_ext.constants import INPUT_MODES, REPO_ROOT, SYNTHETIC_ROOT
from monai_ext.errors import SettingError
from monai_ext.networks import BACKBONES, SEGMENTER, PretrainedWeightsError, require_pretrained
from monai_ext.tools.reproduce.bundle_steps import module_step
from monai_ext.tools.reproduce.paths import StudyPaths
from monai_ext.tools.reproduce.profiles import DEFAULT_PROFILE, PROFILES, cls_settings, load_profile
from monai_ext.tools.reproduce.report import write_report
from monai_ext.tools.reproduce.steps import StepFailed, StepRunner
from monai_ext.tools.reproduce.study import study_steps
from monai_ext.tools.synthetic.dataset import DEFAULTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_ext.tools.reproduce", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=DEFAULT_PROFILE,
        help="default: synthetic data, minutes on a CPU; real: settings close to the study; tiny: tests",
    )
    parser.add_argument(
        "--qu-ex", default=None, help="COVID-QU-Ex 'Lung Segmentation Data' folder (default: synthetic)"
    )
    parser.add_argument("--covidx", default=None, help="COVIDx CXR-3 folder (default: synthetic)")
    parser.add_argument("--out", default=None, help="run folder (default: results/<profile>)")
    parser.add_argument("--force", action="store_true", help="rerun every step")
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    parser.add_argument("--modes", nargs="+", choices=INPUT_MODES, default=list(INPUT_MODES))
    parser.add_argument(
        "--test-sources",
        default=None,
        metavar="A,B",
        help="hold these COVIDx sources out whole as the classification test split (cross-source validation); "
        "each classifier is also evaluated on the other sources' test images",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="ID=VALUE",
        help="change a profile setting in MONAI's id syntax, e.g. seg#max_epochs=1 cls#image_size=64 "
        "cls#pretrained=false (values read as JSON, else as text; recorded in the report's settings)",
    )
    args = parser.parse_args(argv)
    try:
        profile = load_profile(args.profile, args.set)
    except SettingError as e:
        parser.error(str(e))
    if args.test_sources:
        profile["test_sources"] = args.test_sources
    try:  # before any work: pretrained weights that can be neither found nor downloaded
        require_pretrained(profile["seg"]["pretrained"], SEGMENTER)
        for backbone in args.backbones:
            require_pretrained(cls_settings(profile, backbone)["pretrained"], backbone)
    except PretrainedWeightsError as e:
        print(f"error: {e} (in the study: --set seg#pretrained=false cls#pretrained=false)", file=sys.stderr)
        return 1
    run_dir = Path(args.out or REPO_ROOT / "results" / args.profile).resolve()
    runner = StepRunner(run_dir, force=args.force, log=lambda m: print(m, flush=True))
    start = time.time()
    try:
        synthetic = profile["synthetic"]
        gt_masks = None
        if args.qu_ex is None or args.covidx is None:
            root = SYNTHETIC_ROOT if synthetic == DEFAULTS else run_dir / "data"
            runner.run(
                module_step(
                    "synthetic",
                    "monai_ext.tools.synthetic",
                    ["--out", root, *[f"--{k.replace('_', '-')}={v}" for k, v in synthetic.items()]],
                    outputs=[root / "synthetic.json"],
                    settings=synthetic,
                )
            )
            gt_masks = root / "covidx-lung-gt"
        paths = StudyPaths(
            run_dir=run_dir,
            qu_ex=Path(args.qu_ex).resolve() if args.qu_ex else root / "lung-seg",
            covidx=Path(args.covidx).resolve() if args.covidx else root / "covidx",
            covidx_gt_masks=gt_masks if args.covidx is None else None,
            synthetic=tuple(
                name for name, given in (("COVID-QU-Ex", args.qu_ex), ("COVIDx", args.covidx)) if not given
            ),
        )
        steps = study_steps(paths, profile, args.backbones, args.modes)
        for number, step in enumerate(steps, start=1):
            print(f"({number}/{len(steps)}) {step.name}", flush=True)
            runner.run(step)
        summary = write_report(paths, args.profile, profile, runner.times, args.backbones, args.modes)
    except StepFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"report: {summary}")
    print(f"total time: {time.time() - start:.0f} s ({len(runner.skipped)} steps skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
