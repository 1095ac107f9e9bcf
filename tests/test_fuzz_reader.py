"""A bounded fuzz of the radiograph reader: mutated files (bit flips, truncations, overwritten runs, in the
header and anywhere) made from fixed seed files (pydicom-data's DICOM of many transfer syntaxes, synthetic
PNG, JPEG and DICOM) go through ``LoadCXR``. Each must load to a finite 2-D image in [0, 1] or raise
``CXRReadError`` naming the file; any other exception, a crash or a case over its time limit fails the test.

The cases run in a child process, so that a decoder that crashes or hangs is caught and named instead of
taking the test run down; the parent restarts the child and goes on. Same seed, same cases."""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from monai_ext.data import write_dicom_cr, write_png

#: mutated files in all, and the seed of the mutations (CXR_FUZZ_CASES and CXR_FUZZ_SEED change them for a
#: longer search by hand; the suite runs these)
N_CASES = int(os.environ.get("CXR_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("CXR_FUZZ_SEED", "20261201"))
#: seconds one case may take (a decode of these small files takes milliseconds)
CASE_LIMIT_S = 20.0
#: pydicom-data files: raw, big endian, RLE, JPEG-LS, JPEG 2000, 12-bit JPEG Extended, RGB (raw, RLE, JPEG), CT
DICOM_SEEDS = [
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "JPGExtended.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "CT_small.dcm",
]


def _seed_files(folder: Path) -> list[Path]:
    """The seeds: pydicom-data's files and a synthetic radiograph as PNG (8 and 16 bit), JPEG and DICOM CR."""
    from monai_ext.tools.synthetic.phantom import make_phantom

    seeds = [Path(get_testdata_file(name)) for name in DICOM_SEEDS]
    image = make_phantom(np.random.default_rng(0), 64, "normal").image
    write_png(np.round(image * 255).astype(np.uint8), folder / "synthetic8.png")
    write_png(np.round(image * 65535).astype(np.uint16), folder / "synthetic16.png")
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / "synthetic.jpg", quality=90)
    write_dicom_cr(image, folder / "synthetic_cr.dcm", monochrome1=True, uid_seed="fuzz")
    return [*seeds, *(folder / n for n in ("synthetic8.png", "synthetic16.png", "synthetic.jpg", "synthetic_cr.dcm"))]


def _header_length(data: bytes) -> int:
    """Where the pixel data starts: DICOM's (7FE0,0010) element, PNG's first IDAT, JPEG's start of scan."""
    for marker in (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10", b"IDAT", b"\xff\xda"):
        at = data.find(marker, 128 if marker[0] in (0xE0, 0x7F) else 0)
        if at > 0:
            return at + len(marker) + 8
    return min(len(data), 512)


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One mutation of ``data`` and its description."""
    buf = bytearray(data)
    region = _header_length(data) if rng.random() < 0.6 else len(buf)  # mostly where the parsers look
    kind = rng.choice(["flip", "truncate", "overwrite", "large"])
    if kind == "truncate":
        cut = int(rng.integers(0, len(buf)))
        return bytes(buf[:cut]), f"truncate at {cut}"
    if kind == "flip":
        spots = rng.integers(0, region, size=int(rng.integers(1, 9)))
        for at in spots:
            buf[at] ^= 1 << int(rng.integers(0, 8))
        return bytes(buf), f"flip bits at {sorted(spots.tolist())}"
    at = int(rng.integers(0, region))
    if kind == "overwrite":
        run = rng.integers(0, 256, size=int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
    else:  # large values where sizes and lengths live
        run = b"\xff" * int(rng.integers(1, 5))
    buf[at : at + len(run)] = run
    return bytes(buf), f"{kind} {len(run)} bytes at {at}"


def _worker(connection, folder: str) -> None:
    """Read each case file sent; answer ``(outcome, detail)``."""
    import torch

    from monai_ext.errors import CXRReadError
    from monai_ext.transforms import LoadCXR

    torch.set_num_threads(1)
    loader = LoadCXR()
    while True:
        job = connection.recv()
        if job is None:
            return
        path = Path(folder) / job
        try:
            image = loader(path)
        except CXRReadError as e:
            named = str(e).startswith(str(path))
            connection.send(("refused" if named else "refused without the file's name", str(e)[:300]))
        except Exception as e:  # noqa: BLE001 - what the test is looking for
            connection.send(("crashed", "".join(traceback.format_exception(e))[-1500:]))
        else:
            array = image.numpy()
            ok = array.ndim == 3 and array.shape[0] == 1 and np.isfinite(array).all()
            ok = ok and float(array.min()) >= 0.0 and float(array.max()) <= 1.0
            detail = f"shape {tuple(array.shape)}, range {float(np.nanmin(array)):.3f}-{float(np.nanmax(array)):.3f}"
            connection.send(("loaded" if ok else "loaded out of range or not finite", detail))


class _Child:
    """The worker process, restarted after a crash or a time-out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.context = multiprocessing.get_context("fork")
        self.start()

    def start(self) -> None:
        self.connection, theirs = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(theirs, str(self.folder)), daemon=True)
        self.process.start()

    def read(self, name: str, limit: float) -> tuple[str, str]:
        self.connection.send(name)
        if self.connection.poll(limit):
            try:
                return self.connection.recv()
            except EOFError:
                pass
        outcome = "over the time limit" if self.process.is_alive() else f"worker died ({self.process.exitcode})"
        self.process.kill()
        self.process.join()
        self.start()
        return outcome, ""

    def stop(self) -> None:
        self.connection.send(None)
        self.process.join(10)


def test_mutated_radiographs_load_or_are_refused_by_name(tmp_path, capsys):
    seeds = _seed_files(tmp_path)
    cases = tmp_path / "cases"
    cases.mkdir()
    rng = np.random.default_rng(SEED)
    child = _Child(cases)
    outcomes: Counter = Counter()
    failures = []
    slowest = (0.0, "")
    start = time.perf_counter()
    try:
        for i in range(N_CASES):
            seed = seeds[i % len(seeds)]
            data, how = mutate(seed.read_bytes(), rng)
            name = f"case{i:04d}{seed.suffix}"
            (cases / name).write_bytes(data)
            began = time.perf_counter()
            outcome, detail = child.read(name, CASE_LIMIT_S)
            took = time.perf_counter() - began
            slowest = max(slowest, (took, f"{name} ({seed.name}, {how})"))
            outcomes[outcome] += 1
            if outcome not in ("loaded", "refused"):
                failures.append(f"{name} from {seed.name} ({how}): {outcome}: {detail}")
            else:
                (cases / name).unlink()
    finally:
        child.stop()
    with capsys.disabled():
        print(
            f"\nfuzz: {N_CASES} cases from {len(seeds)} seed files (seed {SEED}) in "
            f"{time.perf_counter() - start:.0f} s: {dict(outcomes)}; slowest {slowest[0]:.2f} s, {slowest[1]}"
        )
    assert not failures, f"{len(failures)} of {N_CASES} cases failed:\n" + "\n\n".join(failures[:20])
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0  # both paths were exercised


@pytest.mark.parametrize("seed_index", range(len(DICOM_SEEDS) + 4))
def test_every_seed_file_loads_unmutated(tmp_path, seed_index):
    """The seeds themselves are readable: the fuzz starts from valid files."""
    from monai_ext.transforms import LoadCXR

    image = LoadCXR()(_seed_files(tmp_path)[seed_index])
    assert np.isfinite(image.numpy()).all() and 0 <= float(image.min()) <= float(image.max()) <= 1
