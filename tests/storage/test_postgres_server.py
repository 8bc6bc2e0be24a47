"""A server node on PostgreSQL: chosen by configuration, healthy only while it reaches the
database, with its pool figures in /metrics."""

from __future__ import annotations

import aiohttp
import asyncpg

from server.cli import config_from_args
from tests.conftest import ServerFactory
from tests.support.services import PG_ADMIN_URL


def test_the_database_comes_from_the_flag_or_the_environment() -> None:
    url = "postgresql://parley@db.example/parley"
    assert config_from_args([], env={}).database_url is None
    assert config_from_args(["--database", url], env={}).database_url == url
    assert config_from_args([], env={"PARLEY_DATABASE_URL": url}).database_url == url
    other = "postgres://x@y/z"
    assert (
        config_from_args(["--database", other], env={"PARLEY_DATABASE_URL": url}).database_url
        == other
    )


async def test_healthz_fails_when_postgresql_is_gone(
    server_factory: ServerFactory, pg_url: str
) -> None:
    server = await server_factory(database_url=pg_url)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["database"] == "ok"
        async with http.get(f"{server.url}/metrics") as resp:
            text = await resp.text()
        figures = dict(
            line.split(" ") for line in text.splitlines() if line.startswith("parley_db_pool")
        )
        assert int(figures["parley_db_pool_size"]) >= 1
        assert 0 <= int(figures["parley_db_pool_in_use"]) <= int(figures["parley_db_pool_max"])
        # the database goes away under the running node (its connections are cut)
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            name = pg_url.rsplit("/", 1)[1]
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        async with http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 503
            body = await resp.json()
            assert body["status"] == "unavailable" and body["database"] == "unreachable"
