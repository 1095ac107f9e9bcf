"""MONAI Label inference tasks for the two bundles, driven by each bundle's own ``inference.json``.

Segmentation uses MONAI Label's ``BundleInferTask`` as it is; only the end differs: the bundle's
postprocessing already restores the input's size (``Invertd``), so MONAI Label's own restore is off,
the bundle's PNG writer is filtered out, and the mask leaves as a 2-D uint8 image (0 background,
1 lung) in MONAI's (x, y) order, which MONAI Label's writer saves as the label PNG (also for DICOM
inputs) at the image's rows and columns.

Classification is a ``BundleInferTask`` of type classification: the bundle's preprocessing (lung
mask predicted on the fly by the sibling segmentation bundle when ``input_mode`` needs it) and
softmax; the class probabilities come back in the JSON answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from monai.transforms import CastToTyped, SaveImaged, SqueezeDimd, ToNumpyd, Transposed
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.bundle import BundleInferTask

from monai_ext.bundle import read_class_names
from monai_ext.constants import Keys
from monai_ext.transforms import SaveLungMaskd

__all__ = ["CovidClassificationInfer", "LungSegmentationInfer", "read_class_names"]


class LungSegmentationInfer(BundleInferTask):
    """Lung mask of a chest radiograph (PNG, JPEG or DICOM) at the input's size: 0 background, 1 lung."""

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        super().__init__(
            path,
            conf,
            type=InferType.SEGMENTATION,
            post_filter=[SaveImaged, SaveLungMaskd],
            add_post_restore=False,
            **kwargs,
        )
        self.labels = {"lung": 1}  # the bundle's single output channel is the lung
        # masks come back as PNG for every input, DICOM included (a request may still ask for another)
        self._config.update({"result_extension": ".png"})

    def post_transforms(self, data=None) -> Sequence[Callable]:
        return [
            *super().post_transforms(data),
            SqueezeDimd(keys=Keys.PRED, dim=0),
            # (rows, columns) -> MONAI's (x, y): MONAI Label's writer transposes back when it saves
            Transposed(keys=Keys.PRED, indices=(1, 0)),
            CastToTyped(keys=Keys.PRED, dtype=np.uint8),
            ToNumpyd(keys=Keys.PRED),
        ]


class CovidClassificationInfer(BundleInferTask):
    """Class probabilities of a chest radiograph; ``seg_bundle`` predicts the lung mask when needed."""

    def __init__(self, path: str, conf: dict[str, str], seg_bundle: str | None = None, **kwargs: Any) -> None:
        super().__init__(path, conf, type=InferType.CLASSIFICATION, add_post_restore=False, **kwargs)
        if not self.valid:
            return
        if seg_bundle:
            self.bundle_config["seg_bundle_dir"] = seg_bundle
        self.class_names = read_class_names(os.path.join(path, "models"))
        self.labels = {name: i for i, name in enumerate(self.class_names)}

    def writer(self, data: dict[str, Any], extension=None, dtype=None) -> tuple[Any, dict[str, Any]]:
        """No label file: the answer is JSON with each class's probability and the predicted class."""
        probs = np.asarray(data[Keys.PRED], dtype=np.float64).reshape(-1)
        scores = {name: round(float(p), 6) for name, p in zip(self.class_names, probs)}
        return None, {"prediction": self.class_names[int(probs.argmax())], "probabilities": scores}
