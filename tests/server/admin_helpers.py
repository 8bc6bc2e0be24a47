"""Running ``parley-server admin`` for the admin tests: a real child process, as an operator would.

The child runs while the test's in-process server keeps serving on the test's event loop
(``asyncio.create_subprocess_exec`` never blocks it), so a command and a live server share
the database exactly as in production.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.server.helpers import TIMEOUT, ChatTestClient
from tests.support.services import require_postgres, throwaway_database

REPO_ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "a brand new password"


@dataclass
class AdminResult:
    rc: int
    out: str
    err: str


@dataclass
class Backend:
    """Where a test's servers keep their data, and the admin flags that reach it."""

    name: str
    data_dir: Path
    database_url: str | None = None
    server_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def admin_args(self) -> list[str]:
        if self.database_url is not None:
            return ["--database", self.database_url]
        return ["--data-dir", str(self.data_dir)]

    async def admin(self, *args: str, stdin: str | None = None) -> AdminResult:
        """``python -m server admin <db flags> ARGS``; its exit status and output."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("PARLEY_DATABASE_URL", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "admin",
            *self.admin_args,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(None if stdin is None else stdin.encode()), 60
        )
        assert proc.returncode is not None
        return AdminResult(proc.returncode, out.decode(), err.decode())

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        result = await self.admin(*args, stdin=stdin)
        assert result.rc == 0, result
        return result.out


class Disconnects:
    """Records a client's disconnect so a test can wait for it (no sleeping)."""

    def __init__(self, client: ChatTestClient) -> None:
        self.event = asyncio.Event()
        client.sio.on("disconnect", self._on_disconnect)

    async def _on_disconnect(self, *args: Any) -> None:
        self.event.set()

    async def wait(self) -> None:
        await asyncio.wait_for(self.event.wait(), TIMEOUT)


async def refused(url: str, auth: dict[str, Any]) -> dict[str, Any]:
    """Connect with ``auth``, which must be refused; the connect-error data."""
    client = ChatTestClient(url, ["websocket"])
    try:
        await client.connect(auth)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        await client.disconnect()
        raise AssertionError(f"connecting with {sorted(auth)} was not refused")
    assert isinstance(client.connect_error, dict), client.connect_error
    data = client.connect_error["data"]
    assert isinstance(data, dict) and data["message"] == client.connect_error["message"]
    return data


@asynccontextmanager
async def postgres_backend(data_dir: Path) -> AsyncIterator[Backend]:
    """A throwaway PostgreSQL database (skipped, or failed under PARLEY_REQUIRE_SERVICES=1,
    where PostgreSQL is missing)."""
    require_postgres()
    try:
        from server.storage.postgres import PostgresStorage  # noqa: F401
    except ImportError:
        pytest.skip("this tree has no PostgreSQL storage (server/storage/postgres)")
    async with throwaway_database() as url:
        yield Backend("postgres", data_dir, url, {"data_dir": data_dir, "database_url": url})


@pytest.fixture(name="backend", params=["sqlite", "postgres"])
async def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each admin test runs on a SQLite data dir and on a throwaway PostgreSQL database."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        # database_url=None: SQLite even where PARLEY_TEST_BACKEND=postgres
        yield Backend(
            "sqlite", data_dir, server_overrides={"data_dir": data_dir, "database_url": None}
        )
        return
    async with postgres_backend(data_dir) as backend:
        yield backend
