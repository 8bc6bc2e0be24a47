"""The harness's private services: they stop and start on their own ports, and leave nothing.

The fault tests rely on this: a Redis or PostgreSQL restart must come back on the same
port (the nodes keep their URLs), and teardown must not leave processes or files behind.
"""

from __future__ import annotations

import os
import secrets

import pytest

from tests.cluster.harness import (
    Ports,
    PrivatePostgres,
    PrivateRedis,
    pg_binary_missing,
    redis_binary_missing,
)
from tests.support import services

pytestmark = pytest.mark.slow


async def test_private_redis_restarts_on_its_port(tmp_path) -> None:
    if reason := redis_binary_missing():
        services._missing(reason)
    ports = Ports()
    redis = PrivateRedis(tmp_path / "redis", ports.take())
    try:
        await redis.start_ready()
        assert await redis.ping()
        pid = redis.pid
        await redis.stop()
        assert not os.path.exists(f"/proc/{pid}")
        with pytest.raises(OSError):
            await redis.ping()
        await redis.start_ready()  # same port: the reservation kept it for us
        assert await redis.ping() and redis.pid != pid
    finally:
        await redis.stop()
        ports.close()


async def test_private_postgres_stops_and_starts(tmp_path) -> None:
    try:
        import asyncpg
    except ImportError:
        services._missing("asyncpg is not installed")
    if reason := pg_binary_missing():
        services._missing(reason)
    ports = Ports()
    pg = PrivatePostgres.create(ports.take())
    try:
        pg.start()
        url = await pg.create_database(f"h{secrets.token_hex(3)}")
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE t (x int)")
        await conn.execute("INSERT INTO t VALUES (42)")
        await conn.close()
        pg.stop()
        with pytest.raises(OSError):
            await asyncpg.connect(url, timeout=5)
        pg.start()
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT x FROM t") == 42
        await conn.close()
    finally:
        pg.destroy()
        ports.close()
    assert not pg.root.exists()
