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


def test_a_name_at_the_file_systems_limit_still_gets_a_temporary_name(tmp_path):
    target = tmp_path / ("n" * 251 + ".png")  # 255 bytes: legal, and 18 more would not be
    with atomic_path(target) as tmp:
        assert len(tmp.name) < 255
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_csv_cells_a_spreadsheet_would_run_are_escaped_and_read_back(tmp_path):
    from monai_ext.utils import CSVRows, read_csv, write_csv

    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tq", "\rr", "'quoted", "plain", "a=b"]
    write_csv([[n, -0.5] for n in names], tmp_path / "a.csv", ["name", "value"])
    import csv

    with open(tmp_path / "a.csv", newline="") as f:
        raw = [row[0] for row in list(csv.reader(f))[1:]]  # the cells as a spreadsheet reads them
    assert raw == ["'" + n for n in names[:7]] + ["plain", "a=b"]
    assert [r["name"] for r in read_csv(tmp_path / "a.csv")] == names  # back as written
    assert {r["value"] for r in read_csv(tmp_path / "a.csv")} == {"-0.5"}  # numbers stay numbers
    rows = CSVRows(tmp_path / "b.csv", ["name"])
    rows.start([["=first"]])
    rows.append(["-second"])  # on disk at once, flushed
    assert [r["name"] for r in read_csv(tmp_path / "b.csv")] == ["=first", "-second"]
    rows.close()


def test_the_projects_message_ends_a_failure_inside_a_wrapper():
    from monai_ext.bundle import ModelSettingsError
    from monai_ext.errors import error_summary, project_error

    try:
        try:
            raise ModelSettingsError("models: threshold = 5: must be at most 1")
        except ModelSettingsError as e:
            raise RuntimeError("Failed to evaluate ConfigExpression") from e
    except RuntimeError as wrapped:
        assert isinstance(project_error(wrapped), ModelSettingsError)
        assert (
            error_summary(wrapped) == "cxr-monai error (ModelSettingsError): models: threshold = 5: must be at most 1"
        )
    assert error_summary(RuntimeError("not ours")) is None
