"""Fixtures shared by every test folder: a real Parley server on 127.0.0.1 in this process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from server.app import RunningServer, start_server
from server.config import ServerConfig

# Every Qt test runs offscreen, with or without a display, before any QApplication exists.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers with ServerConfig overrides on the test's loop; all stop at teardown."""
    running: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        overrides.setdefault("data_dir", tmp_path / f"server{len(running)}")
        server = await start_server(ServerConfig(host="127.0.0.1", port=0, **overrides))
        running.append(server)
        return server

    yield start
    for server in reversed(running):
        await server.stop()


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    """A server with the default configuration and a fresh data directory."""
    return await server_factory()
