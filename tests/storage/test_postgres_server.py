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


async def scrape_stored(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """``parley_messages_stored`` from /metrics, and its HELP line."""
    async with http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    lines = text.splitlines()
    value = next(line for line in lines if line.startswith("parley_messages_stored "))
    help_line = next(line for line in lines if line.startswith("# HELP parley_messages_stored"))
    return int(value.split(" ")[1]), help_line


async def test_messages_stored_is_the_planner_estimate_on_postgresql(
    server_factory: ServerFactory, pg_url: str
) -> None:
    from server.http_api import CHAT_KEY
    from server.protocol import GENERAL_ROOM, Event
    from server.storage.postgres import PostgresStorage
    from tests.server.helpers import PASSWORD, ChatTestClient

    server = await server_factory(database_url=pg_url, rate_limit_messages=0)
    storage = server.app[CHAT_KEY].storage
    assert isinstance(storage, PostgresStorage)
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    try:
        for i in range(30):
            await alice.send(GENERAL_ROOM, f"message {i}")
    finally:
        await alice.disconnect()
    exact = await storage.message_count()
    assert exact >= 30
    async with aiohttp.ClientSession() as http:
        # never analysed (autovacuum has not come by): a small table, counted
        value, help_line = await scrape_stored(http, server.url)
        assert value == exact
        assert "estimated" in help_line and "reltuples" in help_line
        # analysed: the planner's figure, which is exact for a table ANALYZE read whole
        await storage.pool.execute("ANALYZE messages")
        assert (await scrape_stored(http, server.url))[0] == exact
        # the figure comes from the statistics, not from a scan of the table: statistics
        # that say otherwise (as on a large table between analyses) show through
        await storage.pool.execute(
            "UPDATE pg_class SET reltuples = reltuples * 1000 WHERE oid = 'messages'::regclass"
        )
        assert (await scrape_stored(http, server.url))[0] == exact * 1000
