"""MONAI Label over a real PACS: Orthanc started on loopback by the test and filled over STOW-RS, the project's
app serving its CR and DX series (``--studies http://127.0.0.1:PORT/dicom-web``): lung segmentation and
classification on a series, a label saved as a DICOM SEG stored back in Orthanc (referencing its
radiograph, readable by highdicom, once however often it is saved), and the PACS's manual SEGs as the
datastore's training labels. Runs in .venv-label."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip(
    "monailabel", reason="MONAI Label is not installed here; `make integration` runs this in .venv-label"
)

import highdicom as hd
from helpers import CLS, SEG, bundle_copy, label_server, loaded_pacs, orthanc_count
from helpers import request as _request
from PIL import Image

from monai_ext.apps.pacs.client import PACS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("label-pacs")
    with loaded_pacs(root / "orthanc") as pacs_site:
        assert pacs_site.loaded.failed == {}
        bundles = root / "bundles"
        for name in (SEG, CLS):
            bundle_copy(name, bundles)
        conf = {"pacs_cache": root / "cache"}
        with label_server(root, pacs_site.server.dicomweb_url, bundles, conf=conf) as url:
            yield {
                "url": url,
                "pacs": pacs_site.pacs,
                "server": pacs_site.server,
                "datasets": pacs_site.datasets,
                "root": root,
            }


def _rg1(site) -> pydicom.Dataset:
    return site["datasets"][0]


def test_the_datastore_lists_the_pacs_radiograph_series(site):
    status, body, _ = _request(f"{site['url']}/datastore/?output=stats")
    stats = json.loads(body)
    assert status == 200 and stats["total"] == len(site["datasets"]) == 5 and stats["completed"] == 0
    from monai_ext.apps.label.datastore import PACSDatastore

    listed = PACSDatastore(site["pacs"], Path(site["root"]) / "listing-cache").list_images()
    assert listed == sorted(str(d.SeriesInstanceUID) for d in site["datasets"])


def test_segmentation_and_classification_answer_on_a_series(site):
    rg1 = _rg1(site)
    status, body, _ = _request(
        f"{site['url']}/infer/{SEG}?image={rg1.SeriesInstanceUID}&output=image",
        "POST",
        {"params": json.dumps({"device": "cpu"})},
    )
    mask = np.asarray(Image.open(io.BytesIO(body)))
    assert status == 200 and mask.shape == (rg1.Rows, rg1.Columns) and set(np.unique(mask)) <= {0, 1}
    status, body, _ = _request(
        f"{site['url']}/infer/{CLS}?image={rg1.SeriesInstanceUID}&output=json",
        "POST",
        {"params": json.dumps({"device": "cpu"})},
    )
    result = json.loads(body)
    result = result.get("params", result)
    assert status == 200 and set(result["probabilities"]) == {"negative", "positive"}
    assert result["decision"] in ("negative", "positive", "abstain") and result["gate"] in ("answer", "abstain")


def test_an_unknown_series_is_refused(site):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as e:
        _request(
            f"{site['url']}/infer/{SEG}?image=1.2.3.4.5&output=image", "POST", {"params": json.dumps({"device": "cpu"})}
        )
    assert e.value.code == 400 and "not an image of the datastore" in e.value.read().decode()


def test_a_pacs_that_does_not_answer_is_a_bad_gateway_naming_it(site):
    from fastapi import HTTPException
    from helpers import free_port

    from monai_ext.apps.label.datastore import PACSDatastore

    listed = PACSDatastore(site["pacs"], Path(site["root"]) / "down-cache")
    series = listed.list_images()[0]
    listed.pacs = PACS(f"http://127.0.0.1:{free_port()}/dicom-web", timeout=1, retries=0)  # the PACS gone since
    for call in (listed.list_images, lambda: listed.get_image_uri(series)):
        with pytest.raises(HTTPException) as e:
            call()
        assert e.value.status_code == 502 and listed.pacs.url in e.value.detail and "not reachable" in e.value.detail


def _save_label(site, series: str, mask: np.ndarray) -> int:
    import uuid

    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="label"; filename="label.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + buffer.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    import urllib.request

    request = urllib.request.Request(
        f"{site['url']}/datastore/label?image={series}&tag=final",
        data=body,
        method="PUT",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=120) as r:
        return r.status


def test_a_saved_label_is_stored_as_a_seg_in_the_pacs_once(site):
    dx = site["datasets"][1]
    mask = np.zeros((dx.Rows, dx.Columns), np.uint8)
    mask[dx.Rows // 4 : 3 * dx.Rows // 4, dx.Columns // 8 : 3 * dx.Columns // 8] = 1
    mask[dx.Rows // 4 : 3 * dx.Rows // 4, 5 * dx.Columns // 8 : 7 * dx.Columns // 8] = 1
    held = orthanc_count(site["server"])
    assert _save_label(site, str(dx.SeriesInstanceUID), mask) == 200
    assert orthanc_count(site["server"]) == held + 1
    assert _save_label(site, str(dx.SeriesInstanceUID), mask) == 200  # saved again: the same SEG, not stored twice
    assert orthanc_count(site["server"]) == held + 1
    pacs: PACS = site["pacs"]
    (seg_series,) = [s for s in pacs.search_series(Modality="SEG") if s.StudyInstanceUID == dx.StudyInstanceUID]
    (stored,) = pacs.retrieve_series(str(dx.StudyInstanceUID), str(seg_series.SeriesInstanceUID))
    seg = hd.seg.Segmentation.from_dataset(stored)
    assert (seg.Rows, seg.Columns) == (dx.Rows, dx.Columns)
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == dx.SeriesInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == dx.SOPInstanceUID
    assert np.array_equal(np.asarray(stored.pixel_array).reshape(mask.shape) > 0, mask > 0)


def test_the_pacs_manual_segs_are_the_training_labels(site):
    from monai_ext.apps.label.datastore import PACSDatastore

    # a second view of the same PACS with an empty cache: the labels come from the PACS's SEGs
    store = PACSDatastore(site["pacs"], Path(site["root"]) / "fresh-cache")
    pairs = store.datalist()
    dx = site["datasets"][1]
    assert [Path(p["image"]).stem for p in pairs] == [str(dx.SeriesInstanceUID)]
    label = np.asarray(Image.open(pairs[0]["label"]))
    assert label.shape == (dx.Rows, dx.Columns) and set(np.unique(label)) == {0, 1}
