"""Everything written to a socket leaves in the order produced, on every transport.

Randomized interleavings (one per seed) of concurrent producers on a real Parley server:
text and image (binary) broadcasts through the fast path (``FanoutManager``), the same
through python-socketio's stock manager (a task per recipient, engine.io's queue), and
direct messages to single sockets. Recipients are raw clients on websocket, on
long-polling, and polling clients that upgrade to websocket at a seed-chosen moment in the
middle of the stream. Every recipient must see:

- exactly the messages addressed to it, once each;
- the room broadcasts in one and the same order as every other recipient;
- each producer's messages in the order that producer made them;
- byte-identical packets (text and attachments) for the same broadcast.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from server.app import SIO_KEY, RunningServer
from server.protocol import GENERAL_ROOM
from tests.conftest import ServerFactory
from tests.server.helpers import PASSWORD
from tests.server.rawio import Got, RawClient

SEEDS = range(40)
KINDS = ["websocket", "websocket", "polling", "polling", "upgrade", "upgrade"]
PRODUCERS = 3
OPS_PER_PRODUCER = 14
EVENT = "probe"


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    return await server_factory(rate_limit_messages=0, max_connections_per_user=100)


@pytest.fixture
async def tokens(server: RunningServer) -> AsyncIterator[list[str]]:
    """One registered user per recipient slot (argon2 once; later logins use the token)."""
    out: list[str] = []
    async with aiohttp.ClientSession() as http:
        for i in range(len(KINDS)):
            client = RawClient(http, server.url)
            session = await client.websocket({"username": f"r{i}", "password": PASSWORD})
            out.append(session["token"])
            await client.close()
    yield out


def _sid_of(sio: socketio.AsyncServer, eio_sid: str) -> str:
    sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
    assert sid is not None
    return str(sid)


async def _produce(
    sio: socketio.AsyncServer,
    rng: random.Random,
    producer: int,
    sids: list[str],
    sent: dict[str, dict[str, Any]],
    addressed: dict[str, list[str]],
    upgrade_now: list[tuple[int, asyncio.Event]],
) -> None:
    stock = socketio.AsyncManager.emit  # python-socketio's own: a task per recipient
    for n in range(OPS_PER_PRODUCER):
        for at, event in upgrade_now:
            if producer == 0 and n == at:
                event.set()
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        mid = f"p{producer}-{n}"
        op = rng.choice(["fast", "fast-image", "stock", "stock-image", "direct"])
        data: dict[str, Any] = {"mid": mid, "op": op, "pad": "x" * rng.choice([1, 200, 70000])}
        if op.endswith("image"):
            data["blob"] = os.urandom(rng.choice([10, 3000, 100_000]))
        sent[mid] = data
        if op == "direct":
            sid = rng.choice(sids)
            addressed[mid] = [sid]
            await sio.emit(EVENT, data, to=sid)
        elif op.startswith("stock"):
            addressed[mid] = list(sids)
            await stock(sio.manager, EVENT, data, "/", room=GENERAL_ROOM)
        else:
            addressed[mid] = list(sids)
            await sio.emit(EVENT, data, to=GENERAL_ROOM)


async def test_every_recipient_sees_one_order_and_identical_bytes(
    server: RunningServer, tokens: list[str]
) -> None:
    # one server and one set of users; fresh connections for every seed
    for seed in SEEDS:
        await _run_seed(server, tokens, seed)


async def _run_seed(server: RunningServer, tokens: list[str], seed: int) -> None:
    rng = random.Random(seed)
    sio = server.app[SIO_KEY]
    async with aiohttp.ClientSession() as http:
        clients = [RawClient(http, server.url) for _ in KINDS]
        try:
            for client, kind, token in zip(clients, KINDS, tokens, strict=True):
                if kind == "websocket":
                    await client.websocket({"token": token})
                else:
                    await client.polling({"token": token})
            sids = [_sid_of(sio, c.sid) for c in clients]
            by_sid = dict(zip(sids, clients, strict=True))
            upgraders = [c for c, k in zip(clients, KINDS, strict=True) if k == "upgrade"]
            upgrade_now = [(rng.randrange(OPS_PER_PRODUCER), asyncio.Event()) for _ in upgraders]

            async def upgrade_when_told(client: RawClient, event: asyncio.Event) -> None:
                await event.wait()
                await client.upgrade()

            sent: dict[str, dict[str, Any]] = {}
            addressed: dict[str, list[str]] = {}
            upgrades = [
                asyncio.create_task(upgrade_when_told(c, ev))
                for c, (_, ev) in zip(upgraders, upgrade_now, strict=True)
            ]
            await asyncio.gather(
                *(
                    _produce(sio, rng, p, sids, sent, addressed, upgrade_now)
                    for p in range(PRODUCERS)
                )
            )
            for _, event in upgrade_now:
                event.set()
            await asyncio.gather(*upgrades)
            await sio.emit(EVENT, {"mid": "end"}, to=GENERAL_ROOM)

            def seen(c: RawClient) -> list[Got]:
                return [g for g in c.got if g.event == EVENT]

            for client in clients:
                await client.wait_until(
                    lambda c=client: any(g.data["mid"] == "end" for g in seen(c))
                )
            assert all(c.transport == "websocket" for c in upgraders)

            broadcast_order: list[str] | None = None
            raw_of: dict[str, tuple[str, tuple[bytes, ...]]] = {}
            for sid, client in by_sid.items():
                got = [g for g in seen(client) if g.data["mid"] != "end"]
                mids = [g.data["mid"] for g in got]
                expected = {m for m, to in addressed.items() if sid in to}
                assert len(mids) == len(set(mids)), f"seed {seed}: duplicates at {sid}"
                assert set(mids) == expected, f"seed {seed}: lost or foreign messages at {sid}"
                for g in got:
                    want = sent[g.data["mid"]]
                    assert g.data == want, f"seed {seed}: payload differs"
                    if len(addressed[g.data["mid"]]) > 1:
                        first = raw_of.setdefault(g.data["mid"], g.raw)
                        assert g.raw == first, f"seed {seed}: bytes differ between recipients"
                for p in range(PRODUCERS):
                    own = [int(m.split("-")[1]) for m in mids if m.startswith(f"p{p}-")]
                    assert own == sorted(own), f"seed {seed}: producer {p} reordered at {sid}"
                broadcasts = [m for m in mids if len(addressed[m]) > 1]
                if broadcast_order is None:
                    broadcast_order = broadcasts
                assert broadcasts == broadcast_order, f"seed {seed}: broadcast order differs"
        finally:
            for client in clients:
                await client.close()
