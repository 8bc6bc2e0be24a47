"""Quitting prints nothing: the real app in a subprocess, signed in to a real server
process, closed with Ctrl+C (SIGINT), SIGTERM, or while the server is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.conftest import PASSWORD
from tests.support.server_process import REPO_ROOT, ServerProcess


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "proc-server", "--log-level", "WARNING")
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["sigint", "sigterm", "server-gone"])
def test_quitting_prints_nothing_to_stderr(
    how: str, server_process: ServerProcess, make_peer: Any, qtbot: Any, tmp_path: Path
) -> None:
    watcher = make_peer(server_process.url, "watcher")
    password = tmp_path / "pw"
    password.write_text(PASSWORD + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), QT_QPA_PLATFORM="offscreen",
               PARLEY_KEYRING="file")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    app = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--server", server_process.url, "--user", "alice",
         "--password-file", str(password), "--data-dir", str(tmp_path / "app")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        qtbot.waitUntil(lambda: {"user": "alice", "state": "online"} in watcher.of("presence")
                        or app.poll() is not None, timeout=60_000)
        assert app.poll() is None, app.communicate()
        if how == "server-gone":
            server_process.kill()
        app.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
        out, err = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    assert err == "", err
    assert app.returncode == 0, out
