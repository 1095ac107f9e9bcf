"""Atomic writes: all or nothing, and the file mode any new file gets (not mkstemp's 0600)."""

from __future__ import annotations

import pytest

from monai_ext.utils import atomic_path, write_json


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.json"
    write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == '{\n    "v": 1\n}\n' and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_written_files_get_the_usual_mode(tmp_path):
    from monai_ext import utils

    write_json({}, tmp_path / "a.json")
    (tmp_path / "plain").write_text("")  # a file made the ordinary way, for comparison
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~utils._UMASK
