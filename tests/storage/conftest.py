"""One storage suite, two backends: every test taking ``storage`` runs on SQLite and on
PostgreSQL (a throwaway database of its own; skipped with a reason where PostgreSQL is
missing, failed under PARLEY_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.storage.base import Storage
from server.storage.sqlite import SQLiteStorage
from tests.support.services import require_postgres, throwaway_database

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (dropped after the test)."""
    require_postgres()
    async with throwaway_database() as url:
        yield url


async def open_postgres(url: str, max_size: int = 4) -> Storage:
    from server.storage.postgres import PostgresStorage

    storage = PostgresStorage(url, max_size=max_size)
    await storage.open()
    return storage


async def open_sqlite(path: Path) -> Storage:
    storage = SQLiteStorage(path / "parley.sqlite3")
    await storage.open()
    return storage


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, empty storage of the parametrized backend."""
    if request.param == "sqlite":
        s = await open_sqlite(tmp_path)
        try:
            yield s
        finally:
            await s.close()
        return
    require_postgres()
    async with throwaway_database() as url:
        s = await open_postgres(url)
        try:
            yield s
        finally:
            await s.close()
