"""Limits shared by every node over Redis (issue 12): the (user, address) login backoff,
room actions, room creation and searches. Each is spent on two nodes as one budget, its
Redis state expires, and without Redis each node falls back to its own count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
import redis.asyncio as aioredis

from server.app import RunningServer
from server.cluster import node as node_module
from server.protocol import GENERAL_ROOM, Event
from tests.cluster.bus_helpers import Cluster, chat, nodes_fixture  # noqa: F401
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.support.services import REDIS_URL


@pytest.fixture(name="redis")
async def redis_fixture() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def _login(http: aiohttp.ClientSession, server: RunningServer, password: str) -> int:
    async with http.post(
        f"{server.url}/api/login", json={"username": "alice", "password": password}
    ) as response:
        return response.status


def _slow_backoff(servers: list[RunningServer], base_s: float) -> None:
    """The login backoff's first delay (after three failures) on every node."""
    for server in servers:
        throttle = chat(server).accounts.failures
        throttle.base_s = base_s
        throttle.max_delay_s = max(base_s, throttle.max_delay_s)


async def test_the_login_backoff_is_shared(nodes: Cluster, redis: aioredis.Redis) -> None:
    a, b = await nodes.start(2)
    _slow_backoff([a, b], 600.0)
    await nodes.connect(a, "alice")
    async with aiohttp.ClientSession() as http:
        for server in (a, b, a):
            assert await _login(http, server, "wrong password!") == 401
        # node b saw one failure of (alice, 127.0.0.1): only the shared delay refuses it
        assert await _login(http, b, PASSWORD) == 429
        assert await _login(http, a, PASSWORD) == 429
        keys = await redis.keys(f"{nodes.prefix}bo:login-pair:*")
        assert len(keys) == 2  # the failures and the time of the next allowed attempt
        assert [await redis.pttl(k) > 0 for k in keys] == [True, True]


async def test_the_login_backoff_expires_and_a_success_clears_it(
    nodes: Cluster, redis: aioredis.Redis
) -> None:
    a, b = await nodes.start(2)
    _slow_backoff([a, b], 0.3)
    await nodes.connect(a, "alice")
    async with aiohttp.ClientSession() as http:
        for server in (a, b, a):
            assert await _login(http, server, "wrong password!") == 401
        # refused attempts record nothing: try until the delay has run out
        async with asyncio.timeout(20):
            while await _login(http, b, PASSWORD) != 200:
                await asyncio.sleep(0.05)
    assert await redis.keys(f"{nodes.prefix}bo:login-pair:*") == []


async def _create(client: ChatTestClient, name: str) -> str:
    ack = await client.call(Event.ROOM_CREATE, {"name": name})
    return "ok" if ack["ok"] else str(ack["error"]["code"])


async def test_room_actions_are_counted_across_nodes(nodes: Cluster) -> None:
    # (alice's registration joins the general room: one action of the budget)
    a, b = await nodes.start(2, room_actions_limit=4, room_actions_window_s=600.0)
    on_a = await nodes.connect(a, "alice")
    on_b = await nodes.connect(b, "alice")
    codes = [await _create(c, f"r{i}") for i, c in enumerate((on_a, on_b, on_a, on_b))]
    assert codes == ["ok", "ok", "ok", "rate_limited"]
    # a topic change spends the same budget, on either node
    ack = await on_a.call(Event.ROOM_TOPIC, {"room": "r0", "topic": "over"})
    assert ack["error"]["code"] == "rate_limited"


async def test_room_creations_are_counted_across_nodes(nodes: Cluster) -> None:
    a, b = await nodes.start(2, rooms_per_user_per_hour=2)
    on_a = await nodes.connect(a, "alice")
    on_b = await nodes.connect(b, "alice")
    codes = [await _create(c, f"r{i}") for i, c in enumerate((on_a, on_b, on_a))]
    assert codes == ["ok", "ok", "rate_limited"]


async def test_room_actions_expire(nodes: Cluster, redis: aioredis.Redis) -> None:
    a, b = await nodes.start(2, room_actions_limit=3, room_actions_window_s=0.5)
    on_a = await nodes.connect(a, "alice")
    on_b = await nodes.connect(b, "alice")
    assert await _create(on_a, "r0") == "ok"
    assert await _create(on_b, "r1") == "ok"
    (key,) = await redis.keys(f"{nodes.prefix}rl:room-action:*")
    assert 0 < await redis.pttl(key) <= 500
    # refused creations record nothing: once the window has passed, b accepts again
    async with asyncio.timeout(20):
        while await _create(on_b, "r2") != "ok":
            await asyncio.sleep(0.05)


async def _search(client: ChatTestClient) -> str:
    ack = await client.call(Event.MESSAGE_SEARCH, {"query": "hello"})
    return "ok" if ack["ok"] else str(ack["error"]["code"])


async def test_searches_are_counted_across_nodes(nodes: Cluster, redis: aioredis.Redis) -> None:
    from server.handlers.search import SEARCH_WINDOW_S, SEARCHES_PER_WINDOW

    a, b = await nodes.start(2)
    on_a = await nodes.connect(a, "alice")
    on_b = await nodes.connect(b, "alice")
    for i in range(SEARCHES_PER_WINDOW):
        assert await _search(on_a if i % 2 else on_b) == "ok"
    assert await _search(on_b) == "rate_limited"
    assert await _search(on_a) == "rate_limited"
    (key,) = await redis.keys(f"{nodes.prefix}rl:search:*")
    assert 0 < await redis.pttl(key) <= SEARCH_WINDOW_S * 1000


async def test_without_redis_each_limit_falls_back_to_the_node(
    nodes: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "STARTUP_WAIT_S", 0.2)
    (a,) = await nodes.start(1, redis_url="redis://127.0.0.1:1/0", room_actions_limit=3)
    _slow_backoff([a], 600.0)
    alice = await nodes.connect(a, "alice")
    assert [await _create(alice, f"r{i}") for i in range(3)] == ["ok", "ok", "rate_limited"]
    from server.handlers.search import SEARCHES_PER_WINDOW

    for _ in range(SEARCHES_PER_WINDOW):
        assert await _search(alice) == "ok"
    assert await _search(alice) == "rate_limited"
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            assert await _login(http, a, "wrong password!") == 401
        assert await _login(http, a, PASSWORD) == 429
    sent = await alice.send(GENERAL_ROOM, "still served")
    assert sent["id"]


class RedisProxy:
    """A TCP relay to the test Redis that a test can cut: a real outage for the nodes
    behind it (connections reset, new ones refused), the other tests' Redis untouched."""

    def __init__(self) -> None:
        url = urlsplit(REDIS_URL)
        self._upstream = (url.hostname or "127.0.0.1", url.port or 6379)
        self._db = url.path or "/0"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._db}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # registered at once: a cut while the upstream connects must close this one too,
        # or the server's wait_closed() would wait on it
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        if self._server is None or writer not in self._writers:
            up_writer.close()
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        server, self._server = self._server, None
        server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await server.wait_closed()


async def test_a_brief_outage_falls_back_to_local_counts_and_logs_once(
    nodes: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = RedisProxy()
    await proxy.start()
    try:
        # (alice's registration joins the general room: one action of the budget)
        a = await nodes.start_node(redis_url=proxy.url, room_actions_limit=4)
        b = await nodes.start_node(room_actions_limit=4)
        on_a = await nodes.connect(a, "alice")
        on_b = await nodes.connect(b, "alice")
        assert await _create(on_b, "r0") == "ok"
        assert await _create(on_b, "r1") == "ok"
        assert await _create(on_a, "r2") == "ok"  # the fourth action in the cluster
        assert await _create(on_a, "r3") == "rate_limited"
        caplog.clear()
        await proxy.cut()
        # node a counted two of its own (the registration and r2): two more, then no more
        codes = [await _create(on_a, f"s{i}") for i in range(4)]
        assert codes == ["ok", "ok", "rate_limited", "rate_limited"]
        assert await _search(on_a) == "ok"
        down = [r for r in caplog.records if "Redis bus unavailable" in r.getMessage()]
        assert len(down) == 1
    finally:
        if proxy._server is not None:
            await proxy.cut()
