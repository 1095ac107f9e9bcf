"""The layers of ``monai_ext`` hold: import-linter's contracts (``pyproject.toml``, run by ``make lint``) pass on
the tree, and fail on a copy of it with a cycle, an import back up or one application importing the other
planted, naming the import."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root``, with that copy first on the path (``--no-cache``:
    nothing written beside it)."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "refusal"),
    [
        # the cycle of issue 28: the calibration handler took ood_threshold from the gate handler and back
        (
            "gate/ood.py",
            "from monai_ext.handlers import calibration",
            "monai_ext.gate is not allowed to import monai_ext.handlers",
        ),
        # a cycle inside one package: the calibration and gate handlers importing each other
        (
            ("handlers/calibration.py", "handlers/gate.py"),
            ("from monai_ext.handlers import gate", "from monai_ext.handlers import calibration"),
            "No cycles are allowed in monai_ext.handlers.",
        ),
        # the import back up: a measuring script in the gate that ran the bundle
        (
            "gate/checks.py",
            "from monai_ext.bundle import bundle_command",
            "monai_ext.gate is not allowed to import monai_ext.bundle",
        ),
        # the second cycle: the classifier's table and the pretrained check took each other's names
        (
            "networks/backbones.py",
            "from monai_ext.networks import pretrained",
            "monai_ext.networks.backbones is not allowed to import monai_ext.networks.pretrained",
        ),
        (
            "networks/backbones.py",
            "from monai_ext.constants import Keys",
            "monai_ext.networks.backbones is not allowed to import monai_ext.constants",
        ),
        (
            "apps/label/tasks.py",
            "from monai_ext.apps.deploy import operators",
            "monai_ext.apps.label is not allowed to import monai_ext.apps.deploy",
        ),
        (
            "tools/summary.py",
            "from monai_ext.apps.pacs import client",
            "monai_ext.tools is not allowed to import monai_ext.apps",
        ),
    ],
)
def test_a_planted_import_against_the_layers_is_refused_by_name(tmp_path, module, planted, refusal):
    shutil.copytree(REPO / "monai_ext", tmp_path / "monai_ext", ignore=shutil.ignore_patterns("__pycache__", "logs"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for name, line in ({module: planted} if isinstance(module, str) else dict(zip(module, planted))).items():
        target = tmp_path / "monai_ext" / name
        target.write_text(target.read_text() + f"\n{line}  # planted\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert refusal in result.stdout, result.stdout
    assert "BROKEN" in result.stdout


def _design_rows() -> list[tuple[str, list[str]]]:
    """``(layer, [package, ...])`` of each row of the layers table in ``docs/design.md``, top of the page first."""
    rows = []
    for line in (REPO / "docs" / "design.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in ("library", "tools", "apps"):
            rows.append((cells[0], re.findall(r"`([\w.]+)`", cells[1])))
    return rows


def test_the_design_page_lists_every_package_in_the_layers_the_contract_checks():
    """docs/design.md's table names each package of the tree once, in its layer, and its library rows are the
    layers contract's, bottom to top: a package added, moved or renamed without the page fails here."""
    rows = _design_rows()
    named = [name for _, names in rows for name in names]
    assert len(named) == len(set(named))
    package = REPO / "monai_ext"
    tree = {p.stem for p in package.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())} - {
        "__init__",
        "apps",
        "tools",
    }
    for layer in ("apps", "tools"):
        tree |= {
            f"{layer}.{p.stem}"
            for p in (package / layer).iterdir()
            if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem != "__init__"
        }
    assert set(named) == tree
    for layer, names in rows:
        assert all(name.startswith(f"{layer}.") for name in names) or layer == "library", (layer, names)
    contract = next(
        c
        for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
        if c["id"] == "layers"
    )
    library = [
        sorted(re.split(r"\s*[:|]\s*", layer))
        for layer in reversed(contract["layers"])
        if layer not in ("apps", "tools")
    ]
    assert [sorted(names) for layer, names in rows if layer == "library"] == library
