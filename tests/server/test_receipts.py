"""Receipts: cumulative positions, unread counts, and message:status to the sender."""

from __future__ import annotations

from server.protocol import GENERAL_ROOM, Event
from tests.server.conftest import Connect


async def test_receipts_move_status_and_never_go_back(connect: Connect) -> None:
    alice = await connect("alice")
    alice_phone = await connect(auth={"token": alice.session["token"]})
    bob = await connect("bob")
    carol = await connect("carol")
    first = await alice.send(GENERAL_ROOM, "one")
    second = await alice.send(GENERAL_ROOM, "two")
    assert second["receipts"] == {"delivered": 0, "read": 0, "of": 2}

    await bob.ok(
        Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": second["id"], "state": "delivered"}
    )
    status = await alice.wait_for(Event.MESSAGE_STATUS)
    assert status == {
        "room": GENERAL_ROOM,
        "up_to": second["id"],
        "state": "delivered",
        "by": "bob",
        "count": 1,
        "of": 2,
    }
    # every connection of the sender hears it
    assert await alice_phone.wait_for(Event.MESSAGE_STATUS) == status

    # read implies delivered: carol reads straight away
    await carol.ok(
        Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": first["id"], "state": "read"}
    )
    read = await alice.wait_for(Event.MESSAGE_STATUS, lambda s: s["state"] == "read")
    assert read == {
        "room": GENERAL_ROOM,
        "up_to": first["id"],
        "state": "read",
        "by": "carol",
        "count": 1,
        "of": 2,
    }
    delivered = await alice.wait_for(
        Event.MESSAGE_STATUS, lambda s: s["by"] == "carol" and s["state"] == "delivered"
    )
    assert delivered["up_to"] == first["id"] and delivered["count"] == 2

    # a receipt behind the position changes nothing and sends nothing
    before = len(alice.received(Event.MESSAGE_STATUS))
    await bob.ok(
        Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": first["id"], "state": "delivered"}
    )
    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    by_id = {m["id"]: m for m in history}
    assert by_id[first["id"]]["receipts"] == {"delivered": 2, "read": 1, "of": 2}
    assert by_id[second["id"]]["receipts"] == {"delivered": 1, "read": 0, "of": 2}
    assert len(alice.received(Event.MESSAGE_STATUS)) == before
    assert "receipts" not in by_id[first["id"] - 1] or by_id[first["id"] - 1]["sender"] == "alice"


async def test_unread_counts_from_the_read_marker_excluding_own_messages(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "news"})
    await bob.ok(Event.ROOM_JOIN, {"room": "news"})

    def unread(rooms: list[dict]) -> int:
        return next(r["unread"] for r in rooms if r["id"] == "news")

    assert unread((await bob.ok(Event.ROOMS_LIST))["rooms"]) == 0
    sent = [await alice.send("news", f"n{i}") for i in range(3)]
    await bob.send("news", "my own message does not count")
    assert unread((await bob.ok(Event.ROOMS_LIST))["rooms"]) == 3
    await bob.ok(Event.MESSAGE_RECEIPT, {"room": "news", "id": sent[1]["id"], "state": "read"})
    rooms = (await bob.ok(Event.ROOMS_LIST))["rooms"]
    assert unread(rooms) == 1
    # last_message carries receipts only for its own sender
    news = next(r for r in rooms if r["id"] == "news")
    assert news["last_message"]["sender"] == "bob" and "receipts" in news["last_message"]
    alice_rooms = (await alice.ok(Event.ROOMS_LIST))["rooms"]
    assert "receipts" not in next(r for r in alice_rooms if r["id"] == "news")["last_message"]


async def test_receipt_validation(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    bob = await connect("bob")
    assert (
        await bob.error(Event.MESSAGE_RECEIPT, {"room": "secret", "id": 1, "state": "read"})
        == "not_found"
    )
    for bad in [
        {"id": "1", "state": "read"},
        {"id": 1, "state": "seen"},
        {"id": -1, "state": "read"},
        {"state": "read"},
        {"id": 1},
    ]:
        assert (
            await bob.error(Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, **bad}) == "bad_request"
        ), bad
    # a position past the newest message is clamped, so later messages stay unread
    await bob.ok(Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": 10**9, "state": "read"})
    await alice.send(GENERAL_ROOM, "new")
    rooms = (await bob.ok(Event.ROOMS_LIST))["rooms"]
    assert next(r for r in rooms if r["id"] == GENERAL_ROOM)["unread"] == 1


async def test_a_new_room_is_not_unread_for_its_creator(connect: Connect) -> None:
    alice = await connect("alice")
    created = await alice.ok(Event.ROOM_CREATE, {"name": "fresh"})
    assert created["room"]["unread"] == 0
    rooms = (await alice.ok(Event.ROOMS_LIST))["rooms"]
    assert next(r["unread"] for r in rooms if r["id"] == "fresh") == 0
    # protocol v2: someone else's join is a system message and does not count; their text does
    bob = await connect("bob")
    await bob.ok(Event.ROOM_JOIN, {"room": "fresh"})
    rooms = (await alice.ok(Event.ROOMS_LIST))["rooms"]
    assert next(r["unread"] for r in rooms if r["id"] == "fresh") == 0
    await bob.send("fresh", "hello")
    rooms = (await alice.ok(Event.ROOMS_LIST))["rooms"]
    assert next(r["unread"] for r in rooms if r["id"] == "fresh") == 1
