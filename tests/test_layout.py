"""The package's arrows point forward: no stage imports a later one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ctgans"


def _imports(path: Path) -> set[str]:
    """Every ``ctgans`` module a file imports, at any depth (function-level too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("ctgans")}


def _modules(*parts: str) -> list[Path]:
    root = PACKAGE.joinpath(*parts)
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


@pytest.mark.parametrize(
    ("importers", "forbidden"),
    [
        (("evaluate",), "ctgans.train"),
        (("generate",), "ctgans.train"),
        (("predictor",), "ctgans.train"),
        (("runs",), "ctgans.train"),
        (("simulate",), "ctgans.data"),
        (("dl1_output",), "ctgans.data"),
        (("data",), "ctgans.train"),
        (("data",), "ctgans.models"),
    ],
)
def test_no_import_runs_back_up(importers, forbidden):
    offending = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in _imports(path) if m == forbidden or m.startswith(forbidden + ".")
        )
        for path in _modules(*importers)
    }
    assert {k: v for k, v in offending.items() if v} == {}
