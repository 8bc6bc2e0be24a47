"""Layering that import-linter cannot express: no widgets below desktop/ui.

import-linter refuses submodules of external packages as forbidden targets, so this
reads the import statements of the non-widget layers and fails on any QtWidgets import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NON_WIDGET_LAYERS = ["desktop/net", "desktop/state", "desktop/models", "server"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", NON_WIDGET_LAYERS)
def test_layer_never_imports_widgets(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"{layer} has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f) if "QtWidgets" in m)
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}
