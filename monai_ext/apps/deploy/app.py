"""MONAI Deploy application: a folder of DICOM files -> for each chest radiograph, a lung mask and
COVID-19 class probabilities.

    python -m monai_ext.apps.deploy.app --input DICOM_FOLDER --output OUTPUT --model MODELS [--saliency]

``MODELS`` holds the exported TorchScript of each bundle, as the SDK lays out several models:
``MODELS/cxr_lung_segmentation/model.ts`` and ``MODELS/cxr_covid_classification/model.ts``
(``python -m monai_ext.apps.deploy.demo`` exports them). The classification bundle's configs and class
names are read from ``--cls-bundle`` (default: this repository's ``bundles/cxr_covid_classification``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from holoscan.conditions import CountCondition
from monai.deploy.core import AppContext, Application, Image, IOType
from monai.deploy.operators.monai_bundle_inference_operator import IOMapping

from monai_ext.apps.deploy.finder import find_chest_radiographs
from monai_ext.apps.deploy.operators import (
    CovidClassifierOperator,
    CXRLoaderOperator,
    CXRResultWriterOperator,
    LungSegmentationOperator,
)
from monai_ext.bundle import find_bundle_root
from monai_ext.constants import CLS_BUNDLE, SEG_BUNDLE, TORCHSCRIPT_FILE, Keys
from monai_ext.utils import file_sha256

__all__ = ["CLS", "SEG", "CXRDeployApp"]

SEG, CLS = SEG_BUNDLE, CLS_BUNDLE
logger = logging.getLogger(__name__)


class CXRDeployApp(Application):
    """Loader -> lung segmentation (bundle operator) -> classification -> writer, per radiograph."""

    def __init__(
        self,
        *args,
        cls_bundle: Path | None = None,
        device: str = "cpu",
        saliency: bool = False,
        gate: bool = True,
        **kwargs,
    ) -> None:
        self.cls_bundle = Path(cls_bundle or find_bundle_root(CLS))
        self.device = device
        self.saliency = saliency
        self.gate = gate
        super().__init__(*args, **kwargs)

    def model_ids(self, models: Path) -> dict[str, str]:
        """What each DICOM output is a function of, besides its radiograph: the weights (SHA-256 of each
        TorchScript), the classifier's model folder (calibration, gate) and whether the gate was on."""
        seg = file_sha256(models / SEG / TORCHSCRIPT_FILE)
        cls = file_sha256(models / CLS / TORCHSCRIPT_FILE)
        folder = ",".join(f"{p.name}={file_sha256(p)}" for p in sorted((self.cls_bundle / "models").glob("*.json")))
        return {
            "lung_seg": seg,
            "classification_sr": f"{seg}:{cls}:{folder}:gate={self.gate}",
            "saliency_sc": f"{seg}:{cls}:{folder}",
        }

    def compose(self) -> None:
        app_context: AppContext = Application.init_app_context(self.argv)
        input_folder, output_folder = Path(app_context.input_path), Path(app_context.output_path)
        models = Path(app_context.model_path)
        files, skipped = find_chest_radiographs(input_folder)
        for path, why in skipped.items():
            logger.warning("skipped %s: %s", path, why)
        logger.info("%d chest radiograph(s) in %s", len(files), input_folder)
        output_folder.mkdir(parents=True, exist_ok=True)

        loader = CXRLoaderOperator(self, CountCondition(self, count=len(files)), files=files, name="cxr_loader")
        seg = LungSegmentationOperator(
            self,
            app_context=app_context,
            model_name=SEG,
            bundle_path=models / SEG / TORCHSCRIPT_FILE,
            name="lung_segmentation",
            input_mapping=[IOMapping(Keys.IMAGE, Image, IOType.IN_MEMORY)],
            output_mapping=[IOMapping(Keys.PRED, Image, IOType.IN_MEMORY)],
        )
        classifier = CovidClassifierOperator(
            self,
            bundle_dir=self.cls_bundle,
            model_file=models / CLS / TORCHSCRIPT_FILE,
            device=self.device,
            saliency=self.saliency,
            gate=self.gate,
            name="covid_classifier",
        )
        writer = CXRResultWriterOperator(
            self, output_folder=output_folder, skipped=skipped, model_ids=self.model_ids(models), name="writer"
        )
        self.add_flow(loader, seg, {(Keys.IMAGE, Keys.IMAGE)})
        self.add_flow(loader, classifier, {(Keys.IMAGE, Keys.IMAGE)})
        self.add_flow(seg, classifier, {(Keys.PRED, Keys.LUNG)})
        self.add_flow(loader, writer, {(Keys.IMAGE, Keys.IMAGE)})
        self.add_flow(seg, writer, {(Keys.PRED, "mask")})
        self.add_flow(classifier, writer, {("probabilities", "probabilities")})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(add_help=False)  # our options; -i/-o/-m and the rest go to the SDK
    parser.add_argument("--cls-bundle", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--saliency", action="store_true", help="a Grad-CAM overlay per radiograph: saliency.png")
    parser.add_argument("--no-gate", action="store_true", help="decide on every radiograph: the input gate off")
    ours, sdk_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    sys.argv = [sys.argv[0], *sdk_args]  # the SDK reads --input/--output/--model from sys.argv
    app = CXRDeployApp(cls_bundle=ours.cls_bundle, device=ours.device, saliency=ours.saliency, gate=not ours.no_gate)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
