"""Uploads in flight counted across nodes (issue 12): 4 per user and a cap in all, as
leases in Redis that the holding node renews. A node that dies mid-upload stops renewing,
and its slots lapse within the node TTL; without Redis each node counts its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from server.app import RunningServer
from server.cluster import node as node_module
from tests.cluster.bus_helpers import Cluster, chat, crash, nodes_fixture, until  # noqa: F401
from tests.server.helpers import ChatTestClient


def _held(server: RunningServer) -> int:
    return sum(chat(server).files.slots.held.values())


@dataclass
class Uploads:
    """Uploads whose bodies stay open (each holding a slot) until :meth:`finish`."""

    http: aiohttp.ClientSession
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[int]] = field(default_factory=list)

    async def _body(self) -> AsyncIterator[bytes]:
        yield b"first bytes "
        await self.gate.wait()
        yield b"and the rest"

    async def _post(self, server: RunningServer, client: ChatTestClient, body: object) -> int:
        async with self.http.post(
            f"{server.url}/api/media",
            params={"name": "notes.txt"},
            data=body,
            headers={"Authorization": f"Bearer {client.session['token']}"},
        ) as resp:
            await resp.read()
            return resp.status

    async def hold(self, server: RunningServer, client: ChatTestClient) -> None:
        """Start an upload and wait until its node holds the slot."""
        before = _held(server)
        self.tasks.append(asyncio.create_task(self._post(server, client, self._body())))
        await until(lambda: _held(server) > before)

    async def one(self, server: RunningServer, client: ChatTestClient) -> int:
        """A whole upload at once: its status (201, or 429 without a slot)."""
        return await self._post(server, client, b"a small file")

    async def finish(self) -> list[int | BaseException]:
        self.gate.set()
        return list(await asyncio.gather(*self.tasks, return_exceptions=True))


@pytest.fixture(name="uploads")
async def uploads_fixture() -> AsyncIterator[Uploads]:
    async with aiohttp.ClientSession() as http:
        u = Uploads(http)
        try:
            yield u
        finally:
            await u.finish()


async def test_uploads_in_flight_are_counted_across_nodes(nodes: Cluster, uploads: Uploads) -> None:
    a, b = await nodes.start(2)
    for server in (a, b):
        chat(server).files.slots.total = 5  # (64 by default) the cap in all, shared too
    alice_a = await nodes.connect(a, "alice")
    alice_b = await nodes.connect(b, "alice")
    bob = await nodes.connect(a, "bob")
    carol = await nodes.connect(b, "carol")
    for server, client in ((a, alice_a), (b, alice_b), (a, alice_a), (b, alice_b)):
        await uploads.hold(server, client)
    # each node holds two of alice's: only the shared count refuses a fifth
    assert await uploads.one(b, alice_b) == 429
    await uploads.hold(a, bob)
    # five in flight in the cluster, none of them carol's
    assert await uploads.one(b, carol) == 429
    assert await uploads.finish() == [201] * 5
    # every slot went back: the next uploads are welcome on either node
    assert await uploads.one(b, alice_b) == 201
    assert await uploads.one(a, carol) == 201
    assert _held(a) == _held(b) == 0
    for server in (a, b):
        slots = node(server).upload_slots
        assert slots is not None and not slots.held


async def test_a_dead_nodes_upload_slots_lapse(nodes: Cluster, uploads: Uploads) -> None:
    a, b = await nodes.start(2)
    alice_a = await nodes.connect(a, "alice")
    alice_b = await nodes.connect(b, "alice")
    for _ in range(4):
        await uploads.hold(a, alice_a)
    assert await uploads.one(b, alice_b) == 429
    await crash(a)  # no goodbye: a's leases are no longer renewed
    # within the node TTL (3 s here) the leases lapse; a refused upload takes no slot
    async with asyncio.timeout(30):
        while await uploads.one(b, alice_b) != 201:
            await asyncio.sleep(0.1)


async def test_without_redis_uploads_are_counted_per_node(
    nodes: Cluster, uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "STARTUP_WAIT_S", 0.2)
    (a,) = await nodes.start(1, redis_url="redis://127.0.0.1:1/0")
    alice = await nodes.connect(a, "alice")
    for _ in range(4):
        await uploads.hold(a, alice)
    assert await uploads.one(a, alice) == 429
    assert await uploads.finish() == [201] * 4
    assert await uploads.one(a, alice) == 201


def node(server: RunningServer) -> node_module.ClusterNode:
    from tests.cluster.bus_helpers import node as cluster_node

    return cluster_node(server)
