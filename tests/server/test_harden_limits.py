"""Issue 8, limits: lone surrogates, state-change rate limits, coalescing, private rooms, files.

Each test attacks a real server on 127.0.0.1 and asserts counts and codes.
"""

from __future__ import annotations

import asyncio
import io
import stat
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from server.protocol import GENERAL_ROOM, Event
from server.storage.base import NewMessage
from server.storage.sqlite import SQLiteStorage
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import PASSWORD, ChatTestClient

LONE = "bad \ud800 text"


@pytest.fixture
def transport() -> str:
    """These are about the app, not the transport; bursts of >16 calls need websocket
    (an engine.io polling POST carries at most 16 packets)."""
    return "websocket"


# -- lone surrogates -----------------------------------------------------------------------


async def test_lone_surrogates_are_bad_requests_in_every_field(connect: Connect) -> None:
    alice = await connect("alice")
    cid = str(uuid.uuid4())
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    cases = [
        (Event.MESSAGE_SEND, {"room": GENERAL_ROOM, "client_id": cid, "text": LONE}),
        (Event.MESSAGE_SEND, {"room": GENERAL_ROOM, "client_id": "c\ud800", "text": "hi"}),
        (
            Event.MESSAGE_SEND,
            {
                "room": GENERAL_ROOM,
                "client_id": cid,
                "image": {"data": png.getvalue(), "name": LONE},
            },
        ),
        (Event.ROOM_TOPIC, {"room": GENERAL_ROOM, "topic": LONE}),
        (Event.ROOM_CREATE, {"name": "fine", "topic": LONE}),
        (Event.ROOM_JOIN, {"room": LONE}),
        (Event.SESSION_PASSWORD, {"old": PASSWORD, "new": "new \udfff password"}),
        (Event.TYPING, {"room": GENERAL_ROOM, "typing": True, "\ud800": 1}),
    ]
    for event, payload in cases:
        assert await alice.error(event, payload) == "bad_request", (event, payload)
    # nothing was stored, and the connection still works
    assert (await alice.send(GENERAL_ROOM, "still fine"))["text"] == "still fine"


async def test_nul_in_stored_text_is_a_bad_request(connect: Connect) -> None:
    """PostgreSQL cannot store NUL in text (it answered internal); no backend keeps one."""
    alice = await connect("alice")
    sent = await alice.send(GENERAL_ROOM, "to edit")
    cases = [
        (Event.MESSAGE_SEND, {"room": GENERAL_ROOM, "client_id": str(uuid.uuid4()), "text": "a\x00b"}),
        (Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": sent["id"], "text": "x\x00"}),
        (Event.ROOM_TOPIC, {"room": GENERAL_ROOM, "topic": "\x00"}),
        (Event.ROOM_CREATE, {"name": "nulroom", "topic": "t\x00"}),
    ]
    for event, payload in cases:
        assert await alice.error(event, payload) == "bad_request", (event, payload)
    history = await alice.call(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM})
    assert [m["text"] for m in history["messages"] if m["kind"] == "text"][-1] == "to edit"


async def test_lone_surrogates_over_http_and_login(server_factory: ServerFactory) -> None:
    server = await server_factory()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.url}/api/login", json={"username": "alice", "password": "pw \ud800 long"}
        ) as r:
            assert r.status == 400
        async with http.post(
            f"{server.url}/api/login", json={"username": "alice", "password": PASSWORD}
        ) as r:
            token = (await r.json())["token"]
        async with http.post(
            f"{server.url}/api/rooms/general/messages",
            json={"text": LONE},
            headers={"Authorization": f"Bearer {token}"},
        ) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "bad_request"
    client = ChatTestClient(server.url, ["websocket"])
    with pytest.raises(Exception):  # noqa: B017 - socketio's ConnectionError
        await client.connect({"username": "bob", "password": "pw \ud800 long"})
    assert client.connect_error["data"]["code"] == "bad_request"


async def test_a_bystanders_sends_never_fail_beside_an_attackers(connect: Connect) -> None:
    """5 of a bystander's 100 sends came back internal when their batch held a surrogate."""
    alice = await connect("alice")
    mallory = await connect("mallory")

    async def attack() -> list[str]:
        return [
            await mallory.error(
                Event.MESSAGE_SEND,
                {"room": GENERAL_ROOM, "client_id": str(uuid.uuid4()), "text": LONE},
            )
            for _ in range(15)
        ]

    bystander = [
        alice.call(
            Event.MESSAGE_SEND,
            {"room": GENERAL_ROOM, "client_id": str(uuid.uuid4()), "text": f"m{i}"},
        )
        for i in range(20)
    ]
    results = await asyncio.gather(attack(), *bystander)
    assert set(results[0]) == {"bad_request"}
    assert all(ack["ok"] for ack in results[1:]), results[1:]


async def test_one_bad_message_fails_alone_in_a_group_commit(tmp_path: Path) -> None:
    """Storage-level: a row SQLite cannot take fails only its own caller, never the batch."""
    storage = SQLiteStorage(tmp_path / "parley.sqlite3")
    await storage.open()
    try:
        assert await storage.create_room("room", "public", "", None, [])

        def msg(text: str) -> NewMessage:
            return NewMessage(room="room", sender_id=None, ts=1, kind="text", text=text)

        texts = [f"ok{i}" for i in range(30)]
        texts[7] = LONE  # bypasses the edge checks on purpose
        texts[21] = "\udfff"
        results = await asyncio.gather(
            *(storage.insert_message(msg(t)) for t in texts), return_exceptions=True
        )
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        assert failed == [7, 21]
        assert await storage.message_count() == 28
    finally:
        await storage.close()


# -- state-changing events -----------------------------------------------------------------


async def test_topic_and_membership_storms_are_rate_limited(server_factory: ServerFactory) -> None:
    """100 topic changes and 50 leave/join cycles stored 220 system messages in a second."""
    # an hour-long window: the count cannot depend on how fast this machine is
    server = await server_factory(room_actions_limit=30, room_actions_window_s=3600)
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    await alice.ok(Event.ROOM_CREATE, {"name": "storm"})
    topics = await asyncio.gather(
        *(alice.call(Event.ROOM_TOPIC, {"room": "storm", "topic": f"t{i}"}) for i in range(100))
    )
    cycles = []
    for _ in range(50):
        cycles.append(await alice.call(Event.ROOM_LEAVE, {"room": "storm"}))
        cycles.append(await alice.call(Event.ROOM_JOIN, {"room": "storm"}))
    acks = topics + cycles
    codes = Counter("ok" if a["ok"] else a["error"]["code"] for a in acks)
    assert set(codes) <= {"ok", "rate_limited"}
    # joining general at registration and the creation used two actions of the 30; 28 topic
    # changes got through, then nothing: the leaves were refused, so every join found alice
    # a member already (ok, nothing changes)
    assert codes["ok"] == 28 + 50 and codes["rate_limited"] == 72 + 50
    # what matters: few system lines were stored and broadcast
    bob = ChatTestClient(server.url, ["websocket"])
    await bob.connect({"username": "bob", "password": PASSWORD})
    await bob.wait_for(Event.SESSION)
    joined = await bob.call(Event.ROOM_JOIN, {"room": "storm"})
    history = await bob.ok(Event.MESSAGE_HISTORY, {"room": "storm", "limit": 100})
    system = [m for m in history["messages"] if m["kind"] == "system"]
    assert joined["ok"]
    assert len(system) == 1 + 28 + 1  # created, 28 topic changes, bob's join
    await alice.disconnect()
    await bob.disconnect()


async def test_room_creation_is_capped_per_hour(server_factory: ServerFactory) -> None:
    server = await server_factory(rooms_per_user_per_hour=3)
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    codes = [
        "ok" if a["ok"] else a["error"]["code"]
        for a in [await alice.call(Event.ROOM_CREATE, {"name": f"r{i}"}) for i in range(6)]
    ]
    assert codes == ["ok", "ok", "ok", "rate_limited", "rate_limited", "rate_limited"]
    await alice.disconnect()


async def test_rooms_list_shows_a_bounded_number_of_unjoined_public_rooms(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_listed_public_rooms=3)
    owners = []
    for i in range(4):
        owner = ChatTestClient(server.url, ["websocket"])
        await owner.connect({"username": f"owner{i}", "password": PASSWORD})
        await owner.wait_for(Event.SESSION)
        owners.append(owner)
        for j in range(2):
            await owner.ok(Event.ROOM_CREATE, {"name": f"o{i}r{j}"})
    # a bigger room ranks first
    for owner in owners[1:]:
        await owner.ok(Event.ROOM_JOIN, {"room": "o0r1"})
    viewer = owners[3]
    rooms = (await viewer.ok(Event.ROOMS_LIST))["rooms"]
    joined = sorted(r["id"] for r in rooms if r["joined"])
    unjoined = [r["id"] for r in rooms if not r["joined"]]
    assert joined == ["general", "o0r1", "o3r0", "o3r1"]  # every joined room, always
    assert len(unjoined) == 3
    fresh = ChatTestClient(server.url, ["websocket"])
    await fresh.connect({"username": "fresh", "password": PASSWORD})
    await fresh.wait_for(Event.SESSION)
    fresh_unjoined = [
        r["id"] for r in (await fresh.ok(Event.ROOMS_LIST))["rooms"] if not r["joined"]
    ]
    assert fresh_unjoined[0] == "o0r1" and len(fresh_unjoined) == 3
    for c in (*owners, fresh):
        await c.disconnect()


async def test_receipt_bursts_are_coalesced(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    sent = [await alice.send(GENERAL_ROOM, f"m{i}") for i in range(5)]
    last = sent[-1]["id"]
    first = sent[0]["id"]
    ids = [first + (i % (last - first + 1)) for i in range(150)] + [last]
    acks = await asyncio.gather(
        *(
            bob.call(Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": mid, "state": "read"})
            for mid in ids
        )
    )
    assert all(a["ok"] for a in acks)
    status = await alice.wait_for(
        Event.MESSAGE_STATUS, lambda s: s["state"] == "read" and s["up_to"] == last
    )
    assert status["by"] == "bob"
    # 151 receipts, a handful of position writes and status events
    reads = [s for s in alice.received(Event.MESSAGE_STATUS) if s["state"] == "read"]
    assert len(reads) <= 10


async def test_typing_repeats_are_coalesced(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    for _ in range(40):
        await alice.ok(Event.TYPING, {"room": GENERAL_ROOM, "typing": True})
    for i in range(60):
        await alice.ok(Event.TYPING, {"room": GENERAL_ROOM, "typing": i % 2 == 1})
    await alice.send(GENERAL_ROOM, "marker")
    await bob.wait_for(Event.MESSAGE, lambda m: m["text"] == "marker")
    typing = bob.received(Event.TYPING)
    assert 1 <= len(typing) <= 20


# -- private rooms -------------------------------------------------------------------------


async def test_private_rooms_and_dms_are_invisible_to_non_members(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    carol = await connect("carol")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    image = (
        await alice.ok(
            Event.MESSAGE_SEND,
            {"room": "secret", "client_id": "i1", "image": {"data": png.getvalue()}},
        )
    )["message"]["image"]["id"]
    await alice.ok(Event.DM_OPEN, {"user": "bob"})
    for room in ("secret", "dm:alice:bob", "nosuchroom"):
        for event, payload in [
            (Event.ROOM_MEMBERS, {"room": room}),
            (Event.MESSAGE_HISTORY, {"room": room}),
            (Event.ROOM_TOPIC, {"room": room, "topic": "x"}),
            (Event.ROOM_INVITE, {"room": room, "user": "carol"}),
            (Event.ROOM_CLOSE, {"room": room}),
            (Event.ROOM_LEAVE, {"room": room}),
            (Event.MESSAGE_RECEIPT, {"room": room, "id": 1, "state": "read"}),
            (Event.TYPING, {"room": room, "typing": True}),
        ]:
            ack = await carol.call(event, payload)
            assert ack["error"]["code"] == "not_found", (room, event)
            assert ack["error"]["message"] == f"There is no room {room}.", (room, event)
    assert await carol.error(Event.MEDIA_GET, {"id": image}) == "not_found"
    assert await carol.error(Event.MEDIA_GET, {"id": "0" * 32}) == "not_found"
    # PROTOCOL.md names forbidden for joining a private room and for sending as a non-member
    assert await carol.error(Event.ROOM_JOIN, {"room": "secret"}) == "forbidden"
    assert (
        await carol.error(Event.MESSAGE_SEND, {"room": "secret", "client_id": "c", "text": "x"})
        == "forbidden"
    )
    # a public room's existence is no secret: forbidden stays there
    await alice.ok(Event.ROOM_CREATE, {"name": "lobby"})
    assert await carol.error(Event.ROOM_MEMBERS, {"room": "lobby"}) == "forbidden"
    del bob


# -- files on disk -------------------------------------------------------------------------


@pytest.mark.sqlite_only
async def test_data_dir_and_database_files_are_private(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    server = await server_factory(data_dir=data_dir)
    client = ChatTestClient(server.url, ["websocket"])
    await client.connect({"username": "alice", "password": PASSWORD})
    await client.wait_for(Event.SESSION)
    await client.send(GENERAL_ROOM, "a secret")
    await client.disconnect()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = sorted(p.name for p in data_dir.iterdir())
    assert "parley.sqlite3" in files and "parley.sqlite3-wal" in files, files
    for path in data_dir.rglob("*"):
        # the upload store's directories (v2 files) are the owner's only, like the data dir
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    await server.stop()
    # an existing, loose directory from an older version is tightened at start
    data_dir.chmod(0o755)
    (data_dir / "parley.sqlite3").chmod(0o644)
    again = await server_factory(data_dir=data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "parley.sqlite3").stat().st_mode) == 0o600
    await again.stop()
