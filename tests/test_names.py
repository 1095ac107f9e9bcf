"""Each file name the project writes is named once (``monai_ext.constants``) and used by that name: no code
string of ``monai_ext`` and no bundle config spells it out again (docstrings and the bundles' prose
metadata may name a file for a reader)."""

from __future__ import annotations

import ast
import json
import re

import pytest
from conftest import REPO

from monai_ext import constants

#: every named file: ``MODEL_FILE``, ``METRICS_FILE``, ...
NAMED = {name: value for name, value in vars(constants).items() if name.endswith("_FILE") and isinstance(value, str)}


def _pattern(value: str) -> re.Pattern:
    return re.compile(r"(?<![\w.-])" + re.escape(value) + r"(?![\w])")


def _code_strings(path):
    """``(line, text)`` of each string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def _config_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _config_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _config_strings(v)


def literals(names: dict[str, str]) -> list[str]:
    """Every place a named file's name is spelled out, one line each."""
    patterns = {name: _pattern(value) for name, value in names.items()}
    found = []
    for path in sorted((REPO / "monai_ext").rglob("*.py")):
        if path == REPO / "monai_ext" / "constants.py":
            continue
        for line, text in _code_strings(path):
            found += [f"{path.relative_to(REPO)}:{line}: {name}" for name, p in patterns.items() if p.search(text)]
    for path in sorted(REPO.glob("bundles/*/configs/*.json")):
        if path.name == "metadata.json":  # prose for the model zoo's readers
            continue
        for text in _config_strings(json.loads(path.read_text())):
            found += [f"{path.relative_to(REPO)}: {name}" for name, p in patterns.items() if p.search(text)]
    return found


def test_every_model_and_output_folder_file_is_named():
    assert {"MODEL_FILE", "SETTINGS_FILE", "CALIBRATION_FILE", "PREDICTIONS_FILE", "METRICS_FILE"} <= set(NAMED)
    assert len(set(NAMED.values())) == len(NAMED)  # no two names for one file


def test_no_named_file_is_spelled_out_outside_constants():
    assert literals(NAMED) == []


@pytest.mark.parametrize("spelled", ['"metrics.json"', "'/model.pt'"])
def test_the_check_finds_a_spelled_out_name(tmp_path, monkeypatch, spelled):
    """The check itself: a module that writes ``"metrics.json"`` again is named."""
    planted = REPO / "monai_ext" / "tools" / "_planted_name.py"
    monkeypatch.setattr("test_names.REPO", tmp_path)
    (tmp_path / "monai_ext").mkdir()
    (tmp_path / "monai_ext" / "constants.py").write_text("")
    (tmp_path / "monai_ext" / planted.name).write_text(f"OUT = {spelled}\n")
    assert literals(NAMED) == [
        f"monai_ext/{planted.name}:1: {'METRICS_FILE' if 'metrics' in spelled else 'MODEL_FILE'}"
    ]
