"""MONAI Label app serving this repository's bundles: lung segmentation (infer and train) and COVID-19
classification (infer). Bundles are read from a folder, by default the repository's ``bundles/``.

    monailabel start_server --app monai_ext/label/app --studies STUDIES [--conf bundles DIR]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import monailabel
from monailabel.interfaces.app import MONAILabelApp
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random
from monailabel.tasks.train.bundle import BundleTrainTask

from monai_ext.constants import CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.label.tasks import CovidClassificationInfer, LungSegmentationInfer

logger = logging.getLogger(__name__)

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE
DEFAULT_BUNDLES = REPO_ROOT / "bundles"


class CXRApp(MONAILabelApp):
    """Both bundles as MONAI Label models; ``conf['bundles']`` names the folder that holds them."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.bundles = Path(conf.get("bundles", DEFAULT_BUNDLES)).resolve()
        for name in (SEG, CLS):
            if not (self.bundles / name / "models" / "model.pt").is_file():
                raise FileNotFoundError(
                    f"{self.bundles / name / 'models' / 'model.pt'}: no weights "
                    "(make weights downloads them or trains them on the synthetic data)"
                )
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="CXR lung segmentation and COVID-19",
            description="Lung masks and COVID-19 probabilities of chest radiographs (PNG, JPEG, DICOM)",
            version=monailabel.__version__,
        )

    def init_infers(self):
        seg = str(self.bundles / SEG)
        return {
            SEG: LungSegmentationInfer(seg, self.conf),
            CLS: CovidClassificationInfer(str(self.bundles / CLS), self.conf, seg_bundle=seg),
        }

    def init_trainers(self):
        # the datastore holds lung masks (labels/final), so the segmentation bundle trains from it
        return {SEG: BundleTrainTask(str(self.bundles / SEG), self.conf)}

    def init_strategies(self):
        return {"random": Random(), "first": First()}


def main() -> None:
    """Run one inference locally, without a server: ``python main.py STUDIES IMAGE_ID``."""
    import argparse
    import json

    from monailabel.config import settings

    parser = argparse.ArgumentParser()
    parser.add_argument("studies")
    parser.add_argument("image")
    parser.add_argument("--model", default=SEG)
    args = parser.parse_args()
    settings.MONAI_LABEL_DATASTORE_FILE_EXT = ["*.png", "*.jpg", "*.jpeg", "*.dcm"]
    app = CXRApp(os.path.dirname(__file__), args.studies, {})
    print(json.dumps(app.infer({"model": args.model, "image": args.image, "device": "cpu"}), indent=2, default=str))


if __name__ == "__main__":
    main()
