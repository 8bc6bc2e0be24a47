"""Behaviour the fan-out optimisations must keep.

- Room broadcasts bypass python-socketio's per-recipient tasks (``server.fanout``): a
  binary ``message`` (an image's thumbnail) still reaches a websocket and a long-polling
  recipient intact in the same broadcast (engine.io caches a packet's encoding, and the two
  transports encode binary differently).
- ``message:send`` answers room and membership from memory: leaving, closing and inviting
  take effect at once, the ack's ``receipts.of`` follows the member count, a retry of a
  stored message is answered even after the sender left, and a restart reloads rooms and
  memberships from the database.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.helpers import PASSWORD, ChatTestClient


async def _client(url: str, name: str, transport: str = "websocket") -> ChatTestClient:
    client = ChatTestClient(url, [transport])
    await client.connect({"username": name, "password": PASSWORD})
    await client.wait_for(Event.SESSION)
    return client


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def test_binary_broadcast_reaches_websocket_and_polling_alike(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(rate_limit_messages=0)
    sender = await _client(server.url, "sender")
    on_ws = await _client(server.url, "onws", "websocket")
    on_poll = await _client(server.url, "onpoll", "polling")
    try:
        for _ in range(3):  # the writers race to encode the shared broadcast first
            ack = await sender.ok(
                Event.MESSAGE_SEND,
                {"room": GENERAL_ROOM, "client_id": f"img-{_}", "image": {"data": _png()}},
            )
            sent = ack["message"]
            thumb = sent["image"]["thumb"]
            assert isinstance(thumb, bytes) and thumb
            for client in (on_ws, on_poll):
                got = await client.wait_for(Event.MESSAGE, lambda m, i=sent["id"]: m["id"] == i)
                assert got["image"]["thumb"] == thumb
                assert got["image"]["id"] == sent["image"]["id"]
    finally:
        for client in (sender, on_ws, on_poll):
            await client.disconnect()


async def test_membership_changes_take_effect_on_the_next_send(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(rate_limit_messages=0)
    alice = await _client(server.url, "alice")
    bob = await _client(server.url, "bob")
    try:
        await alice.ok(Event.ROOM_CREATE, {"name": "den", "private": True})
        first = await alice.send("den", "alone")
        assert first["receipts"] == {"delivered": 0, "read": 0, "of": 0}

        payload = {"room": "den", "text": "hi", "client_id": "bob-1"}
        assert await bob.error(Event.MESSAGE_SEND, payload) == ErrorCode.FORBIDDEN
        await alice.ok(Event.ROOM_INVITE, {"room": "den", "user": "bob"})
        stored = (await bob.ok(Event.MESSAGE_SEND, payload))["message"]
        assert stored["receipts"]["of"] == 1
        assert (await alice.send("den", "two of us"))["receipts"]["of"] == 1

        await bob.ok(Event.ROOM_LEAVE, {"room": "den"})
        fresh = {"room": "den", "text": "gone", "client_id": "bob-2"}
        assert await bob.error(Event.MESSAGE_SEND, fresh) == ErrorCode.FORBIDDEN
        # a retry of what was stored before leaving is still answered with the stored message
        retry = (await bob.ok(Event.MESSAGE_SEND, payload))["message"]
        assert retry["id"] == stored["id"] and retry["text"] == "hi"
        assert (await alice.send("den", "alone again"))["receipts"]["of"] == 0

        await alice.ok(Event.ROOM_CLOSE, {"room": "den"})
        closed = {"room": "den", "text": "anyone?", "client_id": "alice-closed"}
        assert await alice.error(Event.MESSAGE_SEND, closed) == ErrorCode.NOT_FOUND
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_restart_reloads_rooms_and_memberships(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "kept"
    first = await server_factory(data_dir=data_dir, rate_limit_messages=0)
    alice = await _client(first.url, "alice")
    bob = await _client(first.url, "bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "den", "private": True, "topic": "plans"})
    await alice.ok(Event.ROOM_INVITE, {"room": "den", "user": "bob"})
    await alice.disconnect()
    await bob.disconnect()
    await first.stop()

    second = await server_factory(data_dir=data_dir, rate_limit_messages=0)
    alice = await _client(second.url, "alice")
    carol = await _client(second.url, "carol")
    try:
        sent = await alice.send("den", "after the restart")
        assert sent["receipts"]["of"] == 1
        payload = {"room": "den", "text": "let me in", "client_id": "carol-1"}
        assert await carol.error(Event.MESSAGE_SEND, payload) == ErrorCode.FORBIDDEN
        members = (await alice.ok(Event.ROOM_MEMBERS, {"room": "den"}))["members"]
        assert sorted(m["name"] for m in members) == ["alice", "bob"]
    finally:
        await alice.disconnect()
        await carol.disconnect()
