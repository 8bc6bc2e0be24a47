"""PostgreSQL and Redis for tests: a throwaway database and a private key prefix per test.

The cluster and PostgreSQL tests need the machine's services (127.0.0.1:5432 and :6379 by
default; ``PARLEY_TEST_PG`` / ``PARLEY_TEST_REDIS`` override). Where a service is missing they
skip with a one-line reason, as on a user's fresh machine; with ``PARLEY_REQUIRE_SERVICES=1``
(set by ``.ci/run``) a missing service fails the test instead, so a broken CI image cannot
hide them.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_ADMIN_URL = os.environ.get("PARLEY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("PARLEY_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


def _missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"required service missing (PARLEY_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def require_postgres() -> None:
    """Skip (or fail, where services are required) unless PostgreSQL answers."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _missing("asyncpg is not installed")
    if not _reachable(PG_ADMIN_URL, 5432):
        _missing(f"PostgreSQL is not reachable at {urlsplit(PG_ADMIN_URL).netloc}")


def require_redis() -> None:
    """Skip (or fail, where services are required) unless Redis answers."""
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("redis (redis-py) is not installed")
    if not _reachable(REDIS_URL, 6379):
        _missing(f"Redis is not reachable at {urlsplit(REDIS_URL).netloc}")


def database_url(name: str) -> str:
    """The admin URL with its database replaced by ``name``."""
    parts = urlsplit(PG_ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[str]:
    """Create a database with a random name, yield its URL, drop it afterwards."""
    import asyncpg

    require_postgres()
    name = f"parley_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(name)
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def redis_prefix() -> str:
    """A key prefix no other test run shares."""
    return f"parley-test-{secrets.token_hex(6)}:"


async def delete_redis_prefix(url: str, prefix: str) -> None:
    """Remove every key under ``prefix`` (a test's teardown)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
