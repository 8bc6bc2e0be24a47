"""Several Parley nodes in one process, each with its own aiohttp app, port, storage engine
and Redis bus, sharing one SQLite file and one Redis key prefix (the test's own).

Each node opens the file with its own :class:`ReloadingSQLiteStorage`, so each keeps its own
room cache as separate processes would: a membership change made on one node reaches the
others' caches only through the bus (``Storage.invalidate_rooms``). With
``PARLEY_TEST_BACKEND=postgres`` the nodes share one throwaway PostgreSQL database instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from server.app import SIO_KEY, RunningServer, start_server
from server.chat import ChatService
from server.cluster.node import ClusterNode
from server.config import ServerConfig
from server.http_api import CHAT_KEY
from server.storage.sqlite import SQLiteStorage
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.support.services import (
    REDIS_URL,
    delete_redis_prefix,
    redis_prefix,
    require_redis,
    throwaway_database,
)

POSTGRES = os.environ.get("PARLEY_TEST_BACKEND", "sqlite") == "postgres"


class ReloadingSQLiteStorage(SQLiteStorage):
    """SQLite whose room cache can be told to reload (the engine assumes one owner process;
    here several nodes share the file, as PostgreSQL nodes share a database)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.invalidated: list[str | None] = []

    async def invalidate_rooms(self, room_ids: list[str] | None = None) -> None:
        rooms, members = await self._read(self._load_rooms_sync)
        if room_ids is None:
            self._rooms, self._members = rooms, members
            self.invalidated.append(None)
            return
        for rid in room_ids:
            if rid in rooms:
                self._rooms[rid] = rooms[rid]
                self._members[rid] = members.get(rid, set())
            else:
                self._rooms.pop(rid, None)
                self._members.pop(rid, None)
        self.invalidated.extend(room_ids)


@dataclass
class Cluster:
    data_dir: Path
    prefix: str
    url: str = REDIS_URL
    database_url: str | None = None
    servers: list[RunningServer] = field(default_factory=list)
    clients: list[ChatTestClient] = field(default_factory=list)

    async def start_node(self, **overrides: Any) -> RunningServer:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "data_dir": self.data_dir,
            "redis_url": self.url,
            "redis_prefix": self.prefix,
            "cluster_heartbeat_s": 0.3,
            "cluster_node_ttl_s": 3.0,
        }
        settings.update(overrides)
        config = ServerConfig(**settings, database_url=self.database_url)
        store = None if self.database_url else ReloadingSQLiteStorage(config.database_path)
        server = await start_server(config, store)
        self.servers.append(server)
        return server

    async def start(self, n: int, **overrides: Any) -> list[RunningServer]:
        return [await self.start_node(**overrides) for _ in range(n)]

    async def connect(
        self, server: RunningServer, username: str, password: str = PASSWORD
    ) -> ChatTestClient:
        client = ChatTestClient(server.url, ["websocket"])
        self.clients.append(client)
        await client.connect({"username": username, "password": password})
        await client.wait_for("session")
        return client

    async def close(self) -> None:
        # Bounded, and on a hang every pending task's stack is printed. (Teardowns hung here
        # under load when a node's heartbeat lost stop()'s cancel in redis-py's wait_for and
        # beat on: ClusterNode._stopping. A hang now is a new cause: read the stacks.)
        try:
            async with asyncio.timeout(60):
                for client in self.clients:
                    await client.disconnect()
                for server in reversed(self.servers):
                    await server.stop()
        except TimeoutError:
            for task in asyncio.all_tasks():
                if not task.done():
                    task.print_stack(file=sys.stderr)
            raise


def node(server: RunningServer) -> ClusterNode:
    manager = server.app[SIO_KEY].manager
    return manager.node  # type: ignore[no-any-return]


def chat(server: RunningServer) -> ChatService:
    return server.app[CHAT_KEY]


def invalidated(server: RunningServer) -> list[str | None] | None:
    """Rooms the node was told to forget (None on PostgreSQL, which caches nothing)."""
    store = chat(server).storage
    return store.invalidated if isinstance(store, ReloadingSQLiteStorage) else None


async def crash(server: RunningServer) -> None:
    """Stop a node's heartbeat and bus as a crash would: no goodbye, keys left to expire."""
    n = node(server)
    # as ClusterNode.stop does: the flags end the loops even if a cancel is lost (Python
    # 3.11's asyncio.wait_for in redis-py swallows one that lands as a write completes)
    n._stopping = True
    task = n._heartbeat_task
    n._heartbeat_task = None
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    bus = n.bus
    bus._closing = True
    for t in bus._tasks:
        t.cancel()
    await asyncio.gather(*bus._tasks, return_exceptions=True)
    bus.up = False


async def until(predicate: Any, timeout: float = 20.0) -> None:
    """Poll a condition on state that has no event to wait on (a metric, a cache)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture(name="nodes")
async def nodes_fixture(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Nodes in this process on the test's own Redis prefix (removed afterwards)."""
    require_redis()
    prefix = redis_prefix()
    async with AsyncExitStack() as stack:
        database = await stack.enter_async_context(throwaway_database()) if POSTGRES else None
        c = Cluster(tmp_path / "data", prefix, database_url=database)
        try:
            yield c
        finally:
            await c.close()
            await delete_redis_prefix(REDIS_URL, prefix)
