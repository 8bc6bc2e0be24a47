"""Idempotency and ordering under concurrency.

- The same ``client_id`` sent at the same moment from two connections of one user (a
  client retrying on a second device or after a reconnect race) is stored once: both acks
  carry the same message, history holds one copy, and an observer gets ONE broadcast.
- Many senders at once: every ack is ok, ids are unique and strictly increase per sender
  and in history, and no message is lost (history and an observer see all of them).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from server.app import RunningServer, start_server
from server.config import ServerConfig
from server.protocol import Event

PASSWORD = "concurrency password"
TIMEOUT_S = 20.0


class Peer:
    """One python-socketio connection that records the ``message`` events it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages: list[dict[str, Any]] = []
        self.arrived = asyncio.Condition()
        self.sio.on(Event.MESSAGE, self._on_message)

    async def _on_message(self, data: dict[str, Any]) -> None:
        async with self.arrived:
            self.messages.append(data)
            self.arrived.notify_all()

    async def wait_for_message(self, client_id: str) -> None:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(
                    lambda: any(m.get("client_id") == client_id for m in self.messages)
                ),
                TIMEOUT_S,
            )

    async def wait_for_count(self, n: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(
                    lambda: sum(m.get("kind") == "text" for m in self.messages) >= n
                ),
                TIMEOUT_S,
            )

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, payload, timeout=TIMEOUT_S)
        return ack

    async def ok(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await self.call(event, payload)
        assert ack["ok"] is True, (event, payload, ack)
        return ack


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(
        ServerConfig(
            host="127.0.0.1",
            port=0,
            data_dir=tmp_path / "data",
            rate_limit_messages=0,
            log_level="WARNING",
        )
    )
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def connect(server: RunningServer) -> AsyncIterator[Any]:
    """``await connect(username, transport="websocket") -> Peer``; all closed at the end."""
    opened: list[Peer] = []

    async def make(username: str, transport: str = "websocket") -> Peer:
        peer = Peer()
        await peer.sio.connect(
            server.url,
            auth={"username": username, "password": PASSWORD},
            transports=[transport],
            wait_timeout=10,
        )
        opened.append(peer)
        return peer

    yield make
    for peer in opened:
        if peer.sio.connected:
            await peer.sio.disconnect()


async def all_history(peer: Peer, room: str) -> list[dict[str, Any]]:
    """Every message of a room, paging backwards; returned ascending."""
    page = await peer.ok(Event.MESSAGE_HISTORY, {"room": room, "limit": 100})
    messages = list(page["messages"])
    while page["has_more"]:
        page = await peer.ok(
            Event.MESSAGE_HISTORY, {"room": room, "limit": 100, "before": messages[0]["id"]}
        )
        messages = page["messages"] + messages
    return messages


async def test_same_client_id_from_two_connections_is_stored_and_broadcast_once(
    connect: Any,
) -> None:
    phone = await connect("alice")
    laptop = await connect("alice", "polling")
    observer = await connect("bob")
    client_ids = [f"race-{i}" for i in range(20)]

    for cid in client_ids:
        payload = {"room": "general", "client_id": cid, "text": f"once {cid}"}
        a, b = await asyncio.gather(
            phone.call(Event.MESSAGE_SEND, payload), laptop.call(Event.MESSAGE_SEND, payload)
        )
        assert a["ok"] is True and b["ok"] is True, (a, b)
        assert a["message"]["id"] == b["message"]["id"], (a, b)
        assert a["message"]["client_id"] == b["message"]["client_id"] == cid

    # A later message from each connection: once it has reached the observer, any
    # duplicate broadcast of the raced ones would have been emitted before it.
    await phone.ok(
        Event.MESSAGE_SEND, {"room": "general", "client_id": "barrier-1", "text": "barrier"}
    )
    await laptop.ok(
        Event.MESSAGE_SEND, {"room": "general", "client_id": "barrier-2", "text": "barrier"}
    )
    await observer.wait_for_message("barrier-1")
    await observer.wait_for_message("barrier-2")

    seen = Counter(m.get("client_id") for m in observer.messages)
    assert {cid: seen[cid] for cid in client_ids} == {cid: 1 for cid in client_ids}
    stored = Counter(m.get("client_id") for m in await all_history(observer, "general"))
    assert {cid: stored[cid] for cid in client_ids} == {cid: 1 for cid in client_ids}


async def test_many_concurrent_senders_lose_nothing_and_ids_increase(connect: Any) -> None:
    senders = [
        await connect(f"sender{i}", "polling" if i % 3 == 0 else "websocket") for i in range(8)
    ]
    observer = await connect("watcher")
    per_sender = 25

    async def send_all(i: int, peer: Peer) -> list[int]:
        ids = []
        for j in range(per_sender):
            ack = await peer.ok(
                Event.MESSAGE_SEND,
                {"room": "general", "client_id": f"s{i}-{j}", "text": f"message {j} from {i}"},
            )
            ids.append(ack["message"]["id"])
        return ids

    results = await asyncio.gather(*(send_all(i, p) for i, p in enumerate(senders)))
    for ids in results:
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    acked = {x for ids in results for x in ids}
    total = len(senders) * per_sender
    assert len(acked) == total

    history = await all_history(observer, "general")
    history_ids = [m["id"] for m in history]
    assert all(a < b for a, b in itertools.pairwise(history_ids)), "history not strictly increasing"
    assert acked <= set(history_ids), f"lost: {sorted(acked - set(history_ids))[:10]}"

    await observer.wait_for_count(total)
    got = Counter(m["id"] for m in observer.messages if m.get("kind") == "text")
    assert set(got) == acked and set(got.values()) == {1}
