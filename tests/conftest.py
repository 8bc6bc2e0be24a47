"""Fixtures shared by every test folder: a real Parley server on 127.0.0.1 in this process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from server.app import RunningServer, start_server
from server.config import ServerConfig

# Every Qt test runs offscreen, with or without a display, before any QApplication exists.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

ServerFactory = Callable[..., Awaitable[RunningServer]]

# PARLEY_TEST_BACKEND=postgres runs the in-process servers on PostgreSQL: each data
# directory gets a throwaway database of its own (a restart on the same directory finds
# the same database again)
TEST_BACKEND = os.environ.get("PARLEY_TEST_BACKEND", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: the test reads or writes the SQLite file itself, so its servers run on "
        "SQLite whatever PARLEY_TEST_BACKEND says (it still runs on the postgres pass)",
    )


def backend_for(request: pytest.FixtureRequest) -> str:
    """The backend this test's in-process servers use: ``sqlite_only`` pins SQLite."""
    if request.node.get_closest_marker("sqlite_only") is not None:
        return "sqlite"
    return TEST_BACKEND


@pytest.fixture
async def server_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """Start servers with ServerConfig overrides on the test's loop; all stop at teardown."""
    backend = backend_for(request)
    running: list[RunningServer] = []
    databases: dict[Path, str] = {}
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> RunningServer:
            overrides.setdefault("data_dir", tmp_path / f"server{len(running)}")
            if backend == "postgres" and "database_url" not in overrides:
                from tests.support.services import throwaway_database

                data_dir = Path(overrides["data_dir"])
                if data_dir not in databases:
                    databases[data_dir] = await stack.enter_async_context(throwaway_database())
                overrides["database_url"] = databases[data_dir]
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
