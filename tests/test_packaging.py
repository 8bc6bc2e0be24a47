"""The packaging files say what the README promises, checked cheaply (no PyInstaller run).

``build.spec`` is parsed with ``ast``: the bundle must carry ``resources/``, the engine.io
aiohttp driver and the Qt plugins a user needs, and must leave out the test suite and dev
tools. ``.ci/run`` must run exactly the README's test command. The real build is proven
by ``.ci/run``, which builds the spec and runs the frozen ``Parley --self-test``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC = REPO_ROOT / "build.spec"
CI_RUN = REPO_ROOT / ".ci" / "run"
README = REPO_ROOT / "README.md"


def _spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def _assigned(name: str) -> ast.expr:
    for node in _spec_tree().body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return value
    raise AssertionError(f"build.spec assigns no {name}")


def _strings(node: ast.expr) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _call_kwargs(func: str) -> dict[str, Any]:
    for node in ast.walk(_spec_tree()):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == func:
            return {kw.arg: kw.value for kw in node.keywords if kw.arg}
    raise AssertionError(f"build.spec never calls {func}()")


def test_spec_bundles_resources_under_their_own_name() -> None:
    datas = _assigned("datas")
    assert isinstance(datas, ast.List)
    pairs = [elt for elt in datas.elts if isinstance(elt, ast.Tuple) and len(elt.elts) == 2]
    # (str(ROOT / "resources"), "resources"): the folder lands at sys._MEIPASS/resources,
    # which is where desktop.resources.resources_root() looks in a bundle.
    assert any(
        "resources" in _strings(src) and ast.literal_eval(dest) == "resources"
        for src, dest in (pair.elts for pair in pairs)
    )


def test_spec_builds_a_one_folder_parley_executable() -> None:
    exe = _call_kwargs("EXE")
    assert ast.literal_eval(exe["name"]) == "Parley"
    assert ast.literal_eval(exe["exclude_binaries"]) is True  # one-folder, not one-file
    assert ast.literal_eval(exe["console"]) is False
    assert ast.literal_eval(_call_kwargs("COLLECT")["name"]) == "Parley"


def test_spec_entry_script_starts_the_desktop_app() -> None:
    entry = REPO_ROOT / "scripts" / "parley_entry.py"
    assert "scripts" in ast.unparse(_spec_tree()) and entry.is_file()
    tree = ast.parse(entry.read_text(encoding="utf-8"))
    imports = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert ("desktop.app", "run") in imports


@pytest.mark.parametrize(
    "module",
    [
        "tests",
        "pytest",
        "_pytest",
        "pytestqt",
        "hypothesis",
        "mypy",
        "ruff",
        "tkinter",
        "PySide6.QtQml",
        "PySide6.QtQuick",
        "PySide6.QtWebEngineCore",
        "PySide6.Qt3DCore",
    ],
)
def test_spec_excludes_tests_dev_tools_and_unused_qt(module: str) -> None:
    assert module in _strings(_assigned("excludes"))


def test_spec_hidden_imports_include_the_dynamic_ones_and_all_exist() -> None:
    hidden = _strings(_assigned("hiddenimports"))
    for required in (
        "engineio.async_drivers.aiohttp",
        "socketio.async_client",
        "socketio.async_server",
        "argon2",
        "orjson",
        "PIL.WebPImagePlugin",
        "PySide6.QtSvg",
        "PySide6.QtTest",  # the frozen --self-test uses QTest
    ):
        assert required in hidden
    assert "desktop" in hidden and "server" in hidden  # collect_submodules("desktop"/"server")
    for name in hidden:
        if name in {"desktop", "server", "uvloop"}:
            continue
        assert importlib.util.find_spec(name) is not None, f"hidden import {name} not installed"


def test_spec_keeps_the_qt_plugins_a_desktop_needs() -> None:
    keep = ast.literal_eval(_assigned("KEEP_QT_PLUGINS"))
    assert {"libqoffscreen.so", "libqxcb.so", "libqwayland.so"} <= keep["platforms"]
    assert {"libqgif.so", "libqjpeg.so", "libqwebp.so"} <= keep["imageformats"]
    assert keep["iconengines"] == {"libqsvgicon.so"}
    # PNG support is built into QtGui; the wayland platform needs its shell integration.
    assert "libxdg-shell.so" in keep["wayland-shell-integration"]


def test_desktop_entry_launches_the_bundle_executable() -> None:
    entry = (REPO_ROOT / "resources" / "parley.desktop").read_text(encoding="utf-8")
    assert re.search(r"^Exec=Parley$", entry, re.MULTILINE)
    assert ast.literal_eval(_call_kwargs("EXE")["name"]) == "Parley"


def test_ci_run_is_strict_and_executable() -> None:
    script = CI_RUN.read_text(encoding="utf-8")
    assert os.access(CI_RUN, os.X_OK)
    assert script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script
    assert "PARLEY_REQUIRE_NODE=1" in script
    assert "npm ci --prefix tests/interop" in script
    assert "pyinstaller build.spec" in script
    assert re.search(r"Parley\" --self-test|Parley --self-test", script)
    # pytest exit code 5 ("no tests collected") is a failure, not a pass.
    assert re.search(r"^\s*5\)\s*fail", script, re.MULTILINE)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = README.read_text(encoding="utf-8")
    block = re.search(
        r"```(?:sh|bash|console)?\n(.*?)```", readme.split("## Quick start", 1)[1], re.S
    )
    assert block, "README has no Quick start code block"
    commands = [
        line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2, commands
    test_command = commands[1].split("&&")[-1].strip()
    assert test_command == "python -m pytest"
    assert re.search(
        rf"^{re.escape(test_command)}$", CI_RUN.read_text(encoding="utf-8"), re.MULTILINE
    )
