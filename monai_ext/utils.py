"""Small helpers shared by the writers and checkers: atomic file replacement, CSV that spreadsheets read as text,
hashing, and jsonschema's errors in words (:func:`schema_problems`)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

__all__ = [
    "NEW_FILE_MODE",
    "NEW_FOLDER_MODE",
    "TEMPORARY_GLOB",
    "CSVRows",
    "atomic_path",
    "commit",
    "csv_cell",
    "file_sha256",
    "read_csv",
    "schema_problems",
    "write_csv",
    "write_json",
]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: read once, at import: os.umask can only be read by setting it, which is not thread-safe
_UMASK = _read_umask()
#: the modes a new file and a new folder get (what mkstemp's 0600 and mkdtemp's 0700 are set back to)
NEW_FILE_MODE, NEW_FOLDER_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


#: how the temporary files of :func:`atomic_path` are named: ``.<name>.<random>.tmp<suffix>``
TEMPORARY_GLOB = ".*.tmp*"
#: the longest file name the file systems in use take (NAME_MAX of ext4, XFS, btrfs, tmpfs)
NAME_MAX = 255
#: how much of the final name a temporary name keeps: with the dot, mkstemp's 8 random characters, ".tmp"
#: and a suffix of at most 16, it stays far below NAME_MAX whatever the final name
_TEMPORARY_STEM = 100


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and an interrupted writer leaves the old one intact.
    With ``durable`` the new file's bytes and the rename are flushed to the disk (``fsync``) before
    this returns, so a power cut after it cannot take the file back (checkpoints use it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name[:_TEMPORARY_STEM]}.", ".tmp" + path.suffix[:16]
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, NEW_FILE_MODE)  # mkstemp makes 0600; the result gets the mode any new file gets
    try:
        yield Path(tmp)
        commit(Path(tmp), path, durable)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def commit(tmp: Path, path: Path, durable: bool = False) -> None:
    """Rename the complete file ``tmp`` onto ``path`` (replacing it in one step); with ``durable``, fsync
    the file before and its folder after the rename."""
    if durable:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_json(obj: Any, path: str | os.PathLike, indent: int = 4) -> None:
    """Write ``obj`` as JSON atomically, with a final newline."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent) + "\n")


#: first characters that make a spreadsheet read a cell as a formula (OWASP's list: =, +, -, @, tab, CR);
#: a cell starting with the escape character itself is escaped too, so that reading back is exact
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as text: a string that starts like a formula gets a
    leading ``'`` (OWASP's rule); numbers and other strings are as they are. :func:`read_csv` undoes it."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def _plain_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def _row_dict(row: Mapping[str, Any] | Sequence[Any], fieldnames: Sequence[str]) -> dict[str, Any]:
    row = row if isinstance(row, Mapping) else dict(zip(fieldnames, row))
    return {name: csv_cell(value) for name, value in row.items()}


def write_csv(
    rows: Iterable[Mapping[str, Any] | Sequence[Any]], path: str | os.PathLike, fieldnames: Sequence[str]
) -> None:
    """Write ``rows`` (mappings by field name, or sequences in ``fieldnames`` order) as CSV with a header of
    ``fieldnames``, atomically; a mapping's missing fields are left empty, and cells that a spreadsheet
    would run as formulas are escaped (:func:`csv_cell`)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fieldnames), extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(_row_dict(row, fieldnames) for row in rows)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV this project wrote, by column name, with the cells :func:`csv_cell` escaped read
    back as they were written (``'=x`` -> ``=x``). Reads only."""
    with open(path, newline="") as f:
        return [{k: _plain_cell(v) if isinstance(v, str) else v for k, v in row.items()} for row in csv.DictReader(f)]


class CSVRows:
    """A CSV file that is true at every instant: :meth:`start` replaces it, atomically, by its header and
    the ``rows`` known at the start; :meth:`append` adds a row and flushes it to the file at once; a
    reader sees only whole rows (a killed writer leaves at most a partial last line, which
    :func:`read_csv` readers see as a short row). Cells are escaped as :func:`write_csv` does.

    Args:
        path: the file.
        fieldnames: the header.
    """

    def __init__(self, path: str | os.PathLike, fieldnames: Sequence[str]) -> None:
        self.path = Path(path)
        self.fieldnames = list(fieldnames)
        self._file = None

    def start(self, rows: Iterable[Mapping[str, Any] | Sequence[Any]] = ()) -> None:
        self.close()
        write_csv(rows, self.path, self.fieldnames)
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 - appended to until close()
        self._writer = csv.DictWriter(self._file, fieldnames=self.fieldnames, extrasaction="ignore", restval="")

    def append(self, row: Mapping[str, Any] | Sequence[Any]) -> None:
        if self._file is None:
            self.start()
        self._writer.writerow(_row_dict(row, self.fieldnames))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_files(folder: str | os.PathLike) -> list[Path] | None:
    """The files under ``folder`` that git would commit (tracked, or untracked and not ignored), as they
    are in the work tree; None when ``folder`` is not in a git checkout (or git is not installed)."""
    folder = Path(folder)
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
            cwd=folder,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({folder / name for name in out.split("\0") if name and (folder / name).is_file()})


def _allowed(error) -> str:
    """What a jsonschema ``error`` allows, in words: the schema's own ``allowed`` words where it gives them."""
    rule, value = error.validator, error.validator_value
    if rule == "additionalProperties":
        return (
            f"{error.schema.get('allowed', 'not taken here')} (allowed: {sorted(error.schema.get('properties', {}))})"
        )
    if isinstance(error.schema, Mapping) and "allowed" in error.schema:
        return error.schema["allowed"]
    if rule == "type":
        kinds = value if isinstance(value, list) else [value]
        return "must be " + " or ".join({"null": "null", "integer": "an integer"}.get(k, f"a {k}") for k in kinds)
    words = {
        "minimum": f"must be at least {value}",
        "exclusiveMinimum": f"must be above {value}",
        "maximum": f"must be at most {value}",
        "enum": f"must be one of {value}",
        "minItems": f"must have at least {value} items",
        "uniqueItems": "must not repeat a name",
        "minLength": "must not be empty",
        "pattern": f"must match {value}",
        "required": "is missing",
    }
    return words.get(rule, error.message)


def _field(error) -> str:
    if error.validator == "required":
        return ", ".join(name for name in error.validator_value if name not in (error.instance or {}))
    if error.validator == "additionalProperties":
        return ", ".join(sorted(set(error.instance) - set(error.schema.get("properties", {}))))
    return ".".join(str(p) for p in error.absolute_path) or "(the whole file)"


def schema_problems(schema: Mapping[str, Any], content: Any) -> list[tuple[str, Any, str]]:
    """Every way ``content`` breaks the JSON Schema ``schema`` (draft 7), one per field, sorted by field:
    ``(field, the value, what is allowed in words)``; the value is None for a missing or unknown field. The
    one translation of jsonschema's errors that the model folder's and the MONAI Label requests' checks report.
    A schema may give its own words for what it allows (an ``allowed`` key beside its rules)."""
    problems: dict[str, tuple[str, Any, str]] = {}
    for error in sorted(Draft7Validator(schema).iter_errors(content), key=lambda e: [str(p) for p in e.absolute_path]):
        field = _field(error)
        if field not in problems:  # the first rule a field breaks says what it must be
            shown = None if error.validator in ("required", "additionalProperties") else error.instance
            problems[field] = (field, shown, _allowed(error))
    return list(problems.values())
