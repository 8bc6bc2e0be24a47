"""Quitting prints nothing: the real app in a subprocess, signed in to a real server
process, closed with Ctrl+C (SIGINT), SIGTERM, or while the server is gone; or asked to
quit while it is still loading. And the race that once kept it from exiting: a disconnect
whose cancel lands as the session comes up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.net.client import ChatClient
from tests.desktop.conftest import PASSWORD
from tests.support.server_process import REPO_ROOT, ServerProcess


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "proc-server", "--log-level", "WARNING")
    proc.start()
    yield proc
    proc.stop()


def _start_app(server: ServerProcess, tmp_path: Path) -> subprocess.Popen[str]:
    """The real app in a subprocess, signing in to ``server`` as alice (offscreen)."""
    password = tmp_path / "pw"
    password.write_text(PASSWORD + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), QT_QPA_PLATFORM="offscreen",
               PARLEY_KEYRING="file")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", "--server", server.url, "--user", "alice",
         "--password-file", str(password), "--data-dir", str(tmp_path / "app")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["sigint", "sigterm", "server-gone"])
def test_quitting_prints_nothing_to_stderr(
    how: str, server_process: ServerProcess, make_peer: Any, qtbot: Any, tmp_path: Path
) -> None:
    watcher = make_peer(server_process.url, "watcher")
    app = _start_app(server_process, tmp_path)
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


def _loading_qt(pid: int) -> bool:
    """Whether the process has begun loading Qt (libQt6Core is mapped)."""
    try:
        return "libQt6Core" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["sigint", "sigterm"])
def test_quitting_while_loading_prints_nothing(
    how: str, server_process: ServerProcess, tmp_path: Path
) -> None:
    """Ctrl+C or SIGTERM before the window exists (Qt still loading) is a clean exit too,
    not a KeyboardInterrupt traceback or a kill."""
    app = _start_app(server_process, tmp_path)
    try:
        # the signal comes while Qt is being loaded: seconds before the window exists
        deadline = time.monotonic() + 60
        while not _loading_qt(app.pid) and app.poll() is None:
            assert time.monotonic() < deadline, "the app never loaded Qt"
            time.sleep(0.002)
        app.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
        out, err = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    assert err == "", err
    assert app.returncode == 0, out


@pytest.mark.timeout(120)
def test_disconnect_as_the_session_comes_up_finishes(
    server_url: str, make_client: Any, run: Any
) -> None:
    """Python 3.11's wait_for swallows a cancel that lands in the turn its awaitable
    finished: disconnecting just as the session event arrived left the supervisor waiting
    for the connection to drop and disconnect() waiting for it, forever (the app then never
    exited on Ctrl+C). Here the disconnect is started from the session future's callback."""
    client: ChatClient = make_client(server_url, "alice", connect=False)

    async def disconnect_as_session_arrives() -> bool:
        connecting = asyncio.ensure_future(
            client.connect_to(server_url, {"username": "alice", "password": PASSWORD}))
        while client._session_future is None:
            await asyncio.sleep(0)
        disconnecting: list[asyncio.Task[None]] = []
        client._session_future.add_done_callback(
            lambda _f: disconnecting.append(asyncio.ensure_future(client.disconnect())))
        while not disconnecting:
            await asyncio.sleep(0.01)
        await disconnecting[0]
        return await connecting

    run(disconnect_as_session_arrives(), timeout=60)
    assert client.state == "offline"
    assert not client.is_connected
