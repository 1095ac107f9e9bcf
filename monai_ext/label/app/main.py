"""MONAI Label app serving this repository's bundles: lung segmentation (infer and train) and COVID-19
classification (infer). Bundles are read from a folder, by default the repository's ``bundles/``.

    monailabel start_server --app monai_ext/label/app --studies STUDIES [--conf bundles DIR]

Every request is checked before a task sees it (:mod:`monai_ext.label.requests`): typed, allow-listed
fields, image ids of the datastore, plain label tags, the bundle's own model files; nothing a request
carries reaches a bundle config as an expression. A refused request gets HTTP 400 with the reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import monailabel
from fastapi import HTTPException
from monailabel.config import settings
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.app import MONAILabelApp
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

from monai_ext.bundle import MODEL_FILE
from monai_ext.constants import CLS_BUNDLE, REPO_ROOT, SEG_BUNDLE
from monai_ext.label.requests import (
    RequestError,
    check_batch_request,
    check_image_id,
    check_infer_request,
    check_label_tag,
    check_train_request,
)
from monai_ext.label.tasks import CovidClassificationInfer, LungSegmentationInfer, LungSegmentationTrain

logger = logging.getLogger(__name__)

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE
DEFAULT_BUNDLES = REPO_ROOT / "bundles"
#: the image files a studies folder holds, unless MONAI_LABEL_DATASTORE_FILE_EXT says otherwise
IMAGE_PATTERNS = ["*.png", "*.jpg", "*.jpeg", "*.dcm"]


def _refused(check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, with a refusal turned into HTTP 400 carrying its reason."""
    try:
        return check(*args)
    except RequestError as e:
        logger.warning("request refused: %s", e)
        raise HTTPException(status_code=400, detail=str(e)) from None


class ConfinedDatastore(LocalDatastore):
    """MONAI Label's local datastore whose ids and tags stay inside it: an image id is a plain name (no
    path), a label tag a plain folder name under ``labels/``; anything else is refused (HTTP 400)."""

    def _known(self, image_id: str) -> bool:
        return image_id in self._datastore.objects

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        if image_id:
            _refused(check_label_tag, image_id, "image")  # a new id: a plain name
        return super().add_image(image_id, image_filename, image_info)

    def remove_image(self, image_id: str) -> None:
        _refused(check_image_id, image_id, self._known)
        super().remove_image(image_id)

    def update_image_info(self, image_id: str, info: dict[str, Any]) -> None:
        _refused(check_image_id, image_id, self._known)
        super().update_image_info(image_id, info)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        _refused(check_image_id, image_id, self._known)
        _refused(check_label_tag, label_tag)
        return super().save_label(image_id, label_filename, label_tag, label_info)

    def get_label_uri(self, label_id: str, label_tag: str) -> str:
        _refused(check_label_tag, label_tag)
        return super().get_label_uri(label_id, label_tag)

    def get_label_info(self, label_id: str, label_tag: str) -> dict[str, Any]:
        _refused(check_label_tag, label_tag)
        return super().get_label_info(label_id, label_tag)

    def update_label_info(self, label_id: str, label_tag: str, info: dict[str, Any]) -> None:
        _refused(check_label_tag, label_tag)
        super().update_label_info(label_id, label_tag, info)

    def remove_label(self, label_id: str, label_tag: str) -> None:
        _refused(check_label_tag, label_tag)
        super().remove_label(label_id, label_tag)


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
        folder = self.bundles / str(model) / "models"
        return sorted(p.name for p in folder.glob("*.pt")) if model in (SEG, CLS) else []

    def _known_image(self, image_id: str) -> bool:
        return bool(self.datastore().get_image_uri(image_id))

    def infer(self, request, datastore=None):
        checked = _refused(check_infer_request, request, self._known_image, self._model_files(request.get("model")))
        return super().infer(checked, datastore)

    def batch_infer(self, request, datastore=None):
        checked = _refused(check_batch_request, request, self._model_files(request.get("model")))
        return self._batch_infer(checked, datastore if datastore else self.datastore(), self._batch_item)

    def _batch_item(self, request, datastore=None):
        """One image of a batch: MONAI Label's batch task adds its own bookkeeping to the checked request."""
        item = {k: v for k, v in request.items() if not k.startswith("_") and k not in BATCH_ONLY}
        return self.infer(item, datastore)

    def train(self, request):
        model = request.get("model")
        bundle = self.bundles / str(model) if model in self._trainers else None
        checked = _refused(check_train_request, request, bundle, self._model_files(model))
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
