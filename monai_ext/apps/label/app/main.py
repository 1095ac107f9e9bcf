"""MONAI Label app serving this repository's bundles: lung segmentation (infer and train) and COVID-19
classification (infer). Bundles are read from a folder, by default the repository's ``bundles/``.

    monailabel start_server --app monai_ext/apps/label/app --studies STUDIES [--conf bundles DIR]

``STUDIES`` is a folder of images, or a PACS's DICOMweb root (``http://127.0.0.1:8042/dicom-web``): its CR
and DX series, labels stored back as DICOM SEG (:class:`~monai_ext.apps.label.datastore.PACSDatastore`).
Every request is checked before a task sees it (:mod:`monai_ext.apps.label.requests`): typed, allow-listed
fields, image ids of the datastore, plain label tags, the bundle's own model files; nothing a request
carries reaches a bundle config as an expression. A refused request gets HTTP 400 with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import monailabel
from fastapi import HTTPException
from monailabel.config import settings
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.app import MONAILabelApp
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

from monai_ext.apps.label import IMAGE_PATTERNS
from monai_ext.apps.label.datastore import ConfinedDatastore, PACSDatastore, refused
from monai_ext.apps.label.requests import check_batch_request, check_infer_request, check_train_request
from monai_ext.apps.label.tasks import (
    CovidClassificationInfer,
    LungSegmentationInfer,
    LungSegmentationTrain,
    model_files,
)
from monai_ext.apps.pacs.client import PACS
from monai_ext.constants import CLS_BUNDLE, MODEL_FILE, REPO_ROOT, SEG_BUNDLE

logger = logging.getLogger(__name__)

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE
DEFAULT_BUNDLES = REPO_ROOT / "bundles"
#: where radiographs fetched from a PACS are cached (``--conf pacs_cache DIR``), one folder per PACS
DEFAULT_PACS_CACHE = REPO_ROOT / "results" / "label" / "pacs-cache"


class CXRApp(MONAILabelApp):
    """Both bundles as MONAI Label models; ``conf['bundles']`` names the folder that holds them."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.bundles = Path(conf.get("bundles", DEFAULT_BUNDLES)).resolve()
        for name in (SEG, CLS):
            if not (self.bundles / name / "models" / MODEL_FILE).is_file():
                raise FileNotFoundError(
                    f"{self.bundles / name / 'models' / MODEL_FILE}: no weights "
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

    def init_datastore(self) -> LocalDatastore:
        if self.studies.startswith(("http://", "https://")):  # a PACS's DICOMweb root
            cache = Path(self.conf.get("pacs_cache", DEFAULT_PACS_CACHE))
            url = self.studies.rstrip("/")
            # MONAI Label's own datastore credentials (its DICOMweb names are the deprecated spelling)
            username = settings.MONAI_LABEL_DATASTORE_USERNAME or settings.MONAI_LABEL_DICOMWEB_USERNAME
            password = settings.MONAI_LABEL_DATASTORE_PASSWORD or settings.MONAI_LABEL_DICOMWEB_PASSWORD
            pacs = PACS(url, credentials=(username, password) if username else None)
            return PACSDatastore(pacs, cache / hashlib.sha256(url.encode()).hexdigest()[:16])
        extensions = (
            settings.MONAI_LABEL_DATASTORE_FILE_EXT
            if "MONAI_LABEL_DATASTORE_FILE_EXT" in os.environ
            else IMAGE_PATTERNS
        )
        return ConfinedDatastore(
            self.studies,
            extensions=extensions,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def init_infers(self):
        seg = str(self.bundles / SEG)
        return {
            SEG: LungSegmentationInfer(seg, self.conf),
            CLS: CovidClassificationInfer(str(self.bundles / CLS), self.conf, seg_bundle=seg),
        }

    def init_trainers(self):
        # the datastore holds lung masks (labels/final), so the segmentation bundle trains from it
        return {SEG: LungSegmentationTrain(str(self.bundles / SEG), self.conf)}

    def init_strategies(self):
        return {"random": Random(), "first": First()}

    def _model_files(self, model: Any) -> list[str]:
        """The weights files of a model's bundle a request may choose (``models/*.pt``)."""
        return model_files(self.bundles / str(model)) if model in (SEG, CLS) else []

    def _known_image(self, image_id: str) -> bool:
        return bool(self.datastore().get_image_uri(image_id))

    def infer(self, request, datastore=None):
        checked = refused(check_infer_request, request, self._known_image, self._model_files(request.get("model")))
        return super().infer(checked, datastore)

    def batch_infer(self, request, datastore=None):
        checked = refused(check_batch_request, request, self._model_files(request.get("model")))
        return self._batch_infer(checked, datastore if datastore else self.datastore(), self._batch_item)

    def _batch_item(self, request, datastore=None):
        """One image of a batch: MONAI Label's batch task adds its own bookkeeping to the checked request."""
        item = {k: v for k, v in request.items() if not k.startswith("_") and k not in BATCH_ONLY}
        return self.infer(item, datastore)

    def train(self, request):
        model = request.get("model")
        bundle = self.bundles / str(model) if model in self._trainers else None
        checked = refused(check_train_request, request, bundle, self._model_files(model))
        return super().train(checked)

    def scoring(self, request, datastore=None):
        raise HTTPException(status_code=400, detail="this server has no scoring methods")


#: the fields of a batch request that are not an inference request's
BATCH_ONLY = ("images", "labels", "max_batch_size", "max_workers", "multi_gpu", "gpus")


def main() -> None:
    """Run one inference locally, without a server: ``python main.py STUDIES IMAGE_ID``."""
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("studies")
    parser.add_argument("image")
    parser.add_argument("--model", default=SEG)
    args = parser.parse_args()
    app = CXRApp(os.path.dirname(__file__), args.studies, {})
    print(json.dumps(app.infer({"model": args.model, "image": args.image, "device": "cpu"}), indent=2, default=str))


if __name__ == "__main__":
    main()
