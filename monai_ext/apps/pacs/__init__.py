"""The project's side of a hospital's PACS: a local Orthanc (:mod:`.server`), a DICOMweb client with bounded
time-outs and retries (:mod:`.client`), the DICOM objects stored back (:mod:`.objects`: lung SEG, findings
SR, Grad-CAM secondary capture) and a load of radiographs to start with (:mod:`.load`).

    python -m monai_ext.apps.pacs serve [--storage results/pacs] [--port 8042]
    python -m monai_ext.apps.pacs load [--url http://127.0.0.1:8042/dicom-web]
"""

from monai_ext.apps.pacs.client import PACS, PACSError, StoreResult

__all__ = ["PACS", "PACSError", "StoreResult"]
