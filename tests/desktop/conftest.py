"""Fixtures for desktop tests: a qasync loop that runs while pytest-qt spins Qt.

``qloop`` makes a ``qasync.QEventLoop(qapp, already_running=True)`` the current running
loop, so asyncio tasks (socket I/O, timers) advance whenever Qt processes events, which
``qtbot.waitSignal``/``waitUntil`` do. ``run(coro)`` drives one coroutine to completion that
way. At teardown every task still pending is cancelled and awaited, and the loop is
closed, so no test leaks tasks or sockets into the next.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync

import desktop

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Secrets go to the 0600 file, never into the keyring of whoever runs the tests (the
# keyring path is tested with an explicit backend in test_net_secrets.py).
os.environ["PARLEY_KEYRING"] = "file"

T = TypeVar("T")

Runner = Callable[..., Any]


@pytest.fixture(autouse=True)
def _application(qapp: Any) -> Iterator[Any]:
    """Every desktop test runs with the QApplication up, even one that starts with a model
    (a QTimer made before it exists warns, and any Qt warning fails the test).

    Garbage is collected on the GUI thread only, as the app does (desktop.gc_policy): an
    automatic collection on a server or executor thread destroyed Qt objects there and
    crashed the suite now and then. Whatever a test left behind is collected here, on
    this thread, before the next test starts, and automatic collection is given back
    for the tests that follow without Qt.
    """
    from desktop.gc_policy import GcSteward

    steward = GcSteward()
    try:
        yield qapp
    finally:
        steward.stop()
        # a steward the app code made (ensure_application) must not outlive the test either
        for other in qapp.findChildren(GcSteward):
            other.stop()
            other.setParent(None)
        steward.deleteLater()


@pytest.fixture
def qloop(qapp: Any, qtbot: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """The current (already running) qasync loop for one test."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        # engine.io's server-side ping loops end on their own a ping interval after close;
        # anything of ours still running means a close path forgot a task
        leaked = [t for t in pending if _coro_file(t).startswith(_DESKTOP_DIR)]
        for task in pending:
            task.cancel()
        if pending:
            qtbot.waitUntil(lambda: all(t.done() for t in pending), timeout=10_000)
        # let transports finish closing before the loop goes
        qtbot.wait(10)
        loop._QEventLoop__is_running = False  # type: ignore[attr-defined]  # we never exec()
        try:
            qapp.aboutToQuit.disconnect(loop._after_run_forever)
        except (RuntimeError, TypeError):
            pass
        loop._after_run_forever()
        loop.close()
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
    assert not leaked, f"tasks left running after the test: {leaked}"


_DESKTOP_DIR = str(Path(desktop.__file__).resolve().parent) + os.sep


def _coro_file(task: asyncio.Task[Any]) -> str:
    code = getattr(task.get_coro(), "cr_code", None)
    return str(code.co_filename) if code is not None else ""


@pytest.fixture
def run(qloop: asyncio.AbstractEventLoop, qtbot: Any) -> Runner:
    """``run(coro, timeout=20.0)``: drive a coroutine on the qasync loop, return its result."""

    def runner(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        task = asyncio.ensure_future(coro)
        try:
            qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        except BaseException:
            task.cancel()
            qtbot.waitUntil(task.done, timeout=5000)
            raise
        return task.result()

    return runner


# ---------------------------------------------------------------- servers, clients, peers
import socketio  # noqa: E402

from desktop.net.client import ChatClient  # noqa: E402

PASSWORD = "correct horse battery"


@pytest.fixture
def start_test_server(run: Runner, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_test_server(**ServerConfig overrides) -> url``: in-process servers on the
    test's qasync loop, stopped at teardown. Messages are not rate limited by default."""
    from server.app import start_server
    from server.config import ServerConfig

    running: list[Any] = []

    def factory(**overrides: Any) -> str:
        options: dict[str, Any] = {"rate_limit_messages": 0, "log_level": "WARNING"}
        options.update(overrides)
        cfg = ServerConfig(host="127.0.0.1", port=0,
                           data_dir=tmp_path / f"server-{len(running)}", **options)
        server = run(start_server(cfg))
        running.append(server)
        return str(server.url)

    yield factory
    for server in reversed(running):
        run(server.stop())


@pytest.fixture
def server_url(start_test_server: Callable[..., str]) -> str:
    """A real in-process server on the test's qasync loop (messages not rate limited)."""
    return start_test_server()


class Peer:
    """A headless python-socketio user on the same loop, recording every event."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.session: dict[str, Any] = {}
        self.sio.on("*", self._on_any)

    async def _on_any(self, event: str, data: Any = None) -> None:
        if event == "session":
            self.session = data
        self.events.append((event, data))

    async def connect(self, url: str, username: str, password: str = PASSWORD) -> None:
        await self.sio.connect(url, auth={"username": username, "password": password},
                               transports=["websocket"], wait_timeout=10)

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack = await self.sio.call(event, data, timeout=15)
        assert isinstance(ack, dict)
        return ack

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@pytest.fixture
def make_peer(run: Runner) -> Iterator[Callable[..., Peer]]:
    """``make_peer(url, "bob")``: a connected headless peer, disconnected at teardown."""
    peers: list[Peer] = []

    def factory(url: str, username: str) -> Peer:
        peer = Peer()
        run(peer.connect(url, username))
        peers.append(peer)
        return peer

    yield factory
    for peer in peers:
        run(peer.close())


@pytest.fixture
def make_client(run: Runner, tmp_path: Path, qtbot: Any) -> Iterator[Callable[..., ChatClient]]:
    """``make_client(url, "alice", data_dir=None)``: a signed-in ChatClient (fast retries)."""
    clients: list[ChatClient] = []

    def factory(url: str | None, username: str, data_dir: Path | None = None,
                connect: bool = True) -> ChatClient:
        client = ChatClient(data_dir or tmp_path / f"client-{username}-{len(clients)}")
        client.reconnect_delays = (0.2, 0.5, 1.0)
        clients.append(client)
        if connect and url is not None:
            assert run(client.connect_to(url, {"username": username, "password": PASSWORD}))
        return client

    yield factory
    for client in clients:
        run(client.disconnect())
        client.deleteLater()
