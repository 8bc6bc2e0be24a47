"""Protocol v2 changes survive a crash: edits, deletes (with the image bytes gone) and reactions.

A real ``python -m server`` child is SIGKILLed right after the acks, started again on the
same data dir, and must show the same state, through history and ``message:changes``; after
a final clean stop the deleted image's bytes are in no file of the data dir.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.protocol import ErrorCode, Event
from tests.server.test_restart import PASSWORD, Peer, png_bytes
from tests.support.server_process import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", "--rate-limit", "0")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_edits_deletes_and_reactions_survive_sigkill(
    server: ServerProcess, tmp_path: Path
) -> None:
    url = server.url
    alice = await Peer.connect(url, {"username": "alice", "password": PASSWORD})
    bob = await Peer.connect(url, {"username": "bob", "password": PASSWORD})
    peers = [alice, bob]
    try:
        await alice.ok(Event.ROOM_CREATE, {"name": "durable"})
        await bob.ok(Event.ROOM_JOIN, {"room": "durable"})

        async def send(client_id: str, **fields: object) -> dict:  # type: ignore[type-arg]
            payload = {"room": "durable", "client_id": client_id, **fields}
            return (await alice.ok(Event.MESSAGE_SEND, payload))["message"]

        image_data = png_bytes()
        edited = await send("e", text="first draft")
        image = await send("i", text="a picture", image={"data": image_data, "name": "p.png"})
        liked = await send("r", text="like me")
        reply = (
            await bob.ok(
                Event.MESSAGE_SEND,
                {
                    "room": "durable",
                    "client_id": "b",
                    "text": "@alice yes",
                    "reply_to": liked["id"],
                },
            )
        )["message"]
        await alice.ok(Event.MESSAGE_EDIT, {"room": "durable", "id": edited["id"], "text": "final"})
        await alice.ok(Event.MESSAGE_DELETE, {"room": "durable", "id": image["id"]})
        for who, emoji in ((bob, "👍"), (alice, "🎉"), (alice, "👍")):
            await who.ok(
                Event.REACTION_SET,
                {"room": "durable", "id": liked["id"], "emoji": emoji, "on": True},
            )
        before = await bob.ok(Event.MESSAGE_CHANGES, {"room": "durable", "since": 0})
        for peer in peers:
            await peer.close()

        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)

        bob = await Peer.connect(url, {"username": "bob", "password": PASSWORD})
        peers.append(bob)
        after = await bob.ok(Event.MESSAGE_CHANGES, {"room": "durable", "since": 0})
        assert after == before
        state = {m["id"]: m for m in after["messages"]}
        assert state[edited["id"]]["text"] == "final" and state[edited["id"]]["edited_ts"]
        assert state[image["id"]]["deleted"] is True and state[image["id"]]["image"] is None
        assert state[liked["id"]]["reactions"] == [
            {"emoji": "👍", "users": ["bob", "alice"]},
            {"emoji": "🎉", "users": ["alice"]},
        ]
        assert state[reply["id"]]["reply_to"]["id"] == liked["id"]
        assert state[reply["id"]]["mentions"] == ["alice"]
        assert await bob.call(Event.MEDIA_GET, {"id": image["image"]["id"]}) == {
            "ok": False,
            "error": {"code": ErrorCode.NOT_FOUND, "message": "There is no such image."},
        }
        rooms = {r["id"]: r for r in (await bob.ok(Event.ROOMS_LIST, {}))["rooms"]}
        assert rooms["durable"]["seq"] == after["seq"]
        # the sequence goes on where it stopped
        new = (
            await bob.ok(Event.MESSAGE_SEND, {"room": "durable", "client_id": "n", "text": "n"})
        )["message"]
        assert new["seq"] == after["seq"] + 1
    finally:
        for peer in peers:
            await peer.close()

    await asyncio.to_thread(server.stop)
    leftovers = [
        p.name for p in server.data_dir.iterdir() if p.is_file() and image_data in p.read_bytes()
    ]
    assert leftovers == [], "the deleted image's bytes are still on disk"
