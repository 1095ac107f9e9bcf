"""MONAI Label datastores of the app: a folder (:class:`ConfinedDatastore`) or a PACS (:class:`PACSDatastore`).

:class:`ConfinedDatastore` is MONAI Label's local datastore whose ids and tags stay inside it.

:class:`PACSDatastore` serves a PACS's single-frame radiographs over DICOMweb. MONAI Label's own
``DICOMWebDatastore`` is built around CT series: it converts each series to NIfTI (which needs dcmqi,
downloaded at start) and writes SEGs with pydicom-seg from NIfTI. A chest radiograph is one instance of one
frame, read as DICOM by the bundles; so here:

- the images are the PACS's CR and DX series, id = SeriesInstanceUID, each holding one radiograph,
  fetched by WADO-RS into a local cache (a :class:`ConfinedDatastore`) on first use; a series of more than
  one instance is refused with the reason;
- a final label saved (MONAI Label's ``PUT /datastore/label``, a 0/1 PNG at the radiograph's size) is kept in
  the cache and stored in the PACS as a DICOM SEG (manual segment "lung") referencing its radiograph; its
  UID is derived from the radiograph and the mask, so saving the same label twice stores one SEG;
- manual lung SEGs already in the PACS whose radiograph is listed are the datastore's final labels for
  training (:meth:`PACSDatastore.datalist`); an automatic SEG (a model's output, as the Deploy app stores)
  is never taken as a label.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from fastapi import HTTPException
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.datastore import DefaultLabelTag

from monai_ext.apps.label.requests import RequestError, check_image_id, check_label_tag
from monai_ext.apps.pacs.client import PACS, PACSError
from monai_ext.apps.pacs.objects import derived_uid, write_lung_seg
from monai_ext.data import read_cxr, write_png

__all__ = ["ConfinedDatastore", "PACSDatastore", "refused"]

logger = logging.getLogger(__name__)

#: the cached radiographs' extension
DICOM_EXT = ".dcm"


def _http(status: int, message: str) -> HTTPException:
    logger.warning("%s", message)
    return HTTPException(status_code=status, detail=message)


@contextmanager
def _pacs_answers(what: str = "") -> Iterator[None]:
    """A PACS that fails inside is the client's 502 (bad gateway), its message prefixed with ``what``."""
    try:
        yield
    except PACSError as e:
        raise _http(502, f"{what}{e}") from None


def _is_manual_lung_seg(ds: pydicom.Dataset) -> bool:
    segments = ds.get("SegmentSequence", [])
    return len(segments) == 1 and str(segments[0].get("SegmentAlgorithmType", "")) == "MANUAL"


def refused(check: Callable[..., Any], *args: Any) -> Any:
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
            refused(check_label_tag, image_id, "image")  # a new id: a plain name
        return super().add_image(image_id, image_filename, image_info)

    def remove_image(self, image_id: str) -> None:
        refused(check_image_id, image_id, self._known)
        super().remove_image(image_id)

    def update_image_info(self, image_id: str, info: dict[str, Any]) -> None:
        refused(check_image_id, image_id, self._known)
        super().update_image_info(image_id, info)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        refused(check_image_id, image_id, self._known)
        refused(check_label_tag, label_tag)
        return super().save_label(image_id, label_filename, label_tag, label_info)

    def get_label_uri(self, label_id: str, label_tag: str) -> str:
        refused(check_label_tag, label_tag)
        return super().get_label_uri(label_id, label_tag)

    def get_label_info(self, label_id: str, label_tag: str) -> dict[str, Any]:
        refused(check_label_tag, label_tag)
        return super().get_label_info(label_id, label_tag)

    def update_label_info(self, label_id: str, label_tag: str, info: dict[str, Any]) -> None:
        refused(check_label_tag, label_tag)
        super().update_label_info(label_id, label_tag, info)

    def remove_label(self, label_id: str, label_tag: str) -> None:
        refused(check_label_tag, label_tag)
        super().remove_label(label_id, label_tag)


class PACSDatastore(ConfinedDatastore):
    """The images and final labels of a PACS (see the module's text), cached under ``cache``.

    Args:
        pacs: the DICOMweb server.
        cache: the local folder of fetched radiographs and labels.
    """

    def __init__(self, pacs: PACS, cache: Path) -> None:
        self.pacs = pacs
        self._series: dict[str, str] = {}  # SeriesInstanceUID -> StudyInstanceUID of the listed radiographs
        Path(cache).mkdir(parents=True, exist_ok=True)
        # the fetched radiographs, and their labels as 0/1 PNG
        super().__init__(str(cache), extensions=[f"*{DICOM_EXT}", "*.png"], auto_reload=False)

    def name(self) -> str:
        return self.pacs.url

    def _listing(self) -> dict[str, str]:
        with _pacs_answers():
            found = self.pacs.radiograph_series()
        self._series = {str(s.SeriesInstanceUID): str(s.StudyInstanceUID) for s in found}
        return self._series

    def list_images(self) -> list[str]:
        return sorted(self._listing())

    def _known(self, image_id: str) -> bool:
        return image_id in self._series or image_id in self._listing()

    def get_unlabeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        return sorted(set(self.list_images()) - set(self.get_labeled_images(label_tag)))

    def get_image_uri(self, image_id: str) -> str:
        """The cached radiograph of the series ``image_id``, fetched first when needed; "" for a series the
        PACS does not list as a radiograph."""
        try:
            check_image_id(image_id, self._known)
        except RequestError:
            return ""
        if image_id not in self._datastore.objects:
            self._fetch(image_id)
        return super().get_image_uri(image_id)

    def _fetch(self, series_uid: str) -> None:
        study_uid = self._series[series_uid]
        with _pacs_answers():
            instances = self.pacs.retrieve_series(study_uid, series_uid)
        if len(instances) != 1:
            raise _http(400, f"series {series_uid}: {len(instances)} instances; one radiograph expected")
        ds = instances[0]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{series_uid}{DICOM_EXT}"
            ds.save_as(path, write_like_original=False)
            info = {k: str(ds.get(k, "")) for k in ("StudyInstanceUID", "SOPInstanceUID", "PatientID", "Modality")}
            super().add_image(series_uid, str(path), {**info, "SeriesInstanceUID": series_uid})

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        """Keep the label in the cache and, for a final label, store it in the PACS as a DICOM SEG."""
        source = self.get_image_uri(image_id)
        if not source:
            raise _http(400, f"image {image_id!r}: not a radiograph series of {self.pacs.url}")
        label_id = super().save_label(image_id, label_filename, label_tag, label_info)
        if label_tag == DefaultLabelTag.FINAL:
            seg = self._store_seg(image_id, Path(source), Path(super().get_label_uri(label_id, label_tag)))
            super().update_label_info(label_id, label_tag, {**(label_info or {}), **seg})
        return label_id

    def _store_seg(self, image_id: str, source: Path, label: Path) -> dict[str, str]:
        header = pydicom.dcmread(source, stop_before_pixels=True)
        mask = (read_cxr(label)[0] > 0).astype(np.uint8)
        if mask.shape != (int(header.Rows), int(header.Columns)):
            raise _http(
                400,
                f"label of {image_id}: {mask.shape[0]} x {mask.shape[1]}, the radiograph is "
                f"{header.Rows} x {header.Columns}",
            )
        sop = str(header.SOPInstanceUID)
        uids = {
            "series_uid": derived_uid("label", sop, "series"),
            "sop_uid": derived_uid("label", sop, hashlib.sha256(mask.tobytes()).hexdigest()),
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = write_lung_seg(source, mask, Path(tmp) / "seg.dcm", manual=True, **uids)
            with _pacs_answers(f"label of {image_id}: SEG not stored: "):
                refused = (
                    {} if self.pacs.has_instance(uids["sop_uid"]) else self.pacs.store([pydicom.dcmread(path)]).failed
                )
            if refused:
                raise _http(502, f"label of {image_id}: the PACS refused its SEG: {refused}")
        logger.info("label of %s stored in %s as SEG %s", image_id, self.pacs.url, uids["sop_uid"])
        return {"SEGSeriesInstanceUID": uids["series_uid"], "SEGSOPInstanceUID": uids["sop_uid"]}

    def _pacs_labels(self) -> dict[str, tuple[str, str]]:
        """The listed radiographs with a manual lung SEG in the PACS: series -> (study, SEG series)."""
        listed = self._listing()
        found = {}
        with _pacs_answers():
            for seg in self.pacs.search_series(Modality="SEG"):
                study, seg_series = str(seg.StudyInstanceUID), str(seg.SeriesInstanceUID)
                for meta in self.pacs.series_metadata(study, seg_series):
                    for ref in meta.get("ReferencedSeriesSequence", []):
                        series = str(ref.get("SeriesInstanceUID", ""))
                        if series in listed and _is_manual_lung_seg(meta):
                            found[series] = (study, seg_series)
        return found

    def datalist(self, full_path: bool = True) -> list[dict[str, Any]]:
        """The cached final labels and those of the PACS (fetched, as 0/1 PNG, into the cache first)."""
        for series, (study, seg_series) in self._pacs_labels().items():
            if self._datastore.objects.get(series) and DefaultLabelTag.FINAL in self._datastore.objects[series].labels:
                continue
            self.get_image_uri(series)
            with _pacs_answers():
                seg = self.pacs.retrieve_series(study, seg_series)[-1]
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp) / f"{series}.png"
                write_png(
                    (np.asarray(seg.pixel_array).reshape(int(seg.Rows), int(seg.Columns)) > 0).astype(np.uint8), png
                )
                # into the cache only: it is already in the PACS
                super().save_label(series, str(png), DefaultLabelTag.FINAL, {"SEGSeriesInstanceUID": seg_series})
        return super().datalist(full_path)
