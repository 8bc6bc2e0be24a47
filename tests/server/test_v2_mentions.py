"""Protocol v2, sections 14 and 15: server-computed mentions, and the unread/mention counts."""

from __future__ import annotations

import uuid

import pytest

from server.handlers.relations import find_mentions
from server.protocol import GENERAL_ROOM, Event
from server.storage.base import MemberPosition
from tests.server.conftest import Connect
from tests.server.helpers import ChatTestClient

MEMBERS = [
    MemberPosition(1, "Alice", 0, 0),
    MemberPosition(2, "bob", 0, 0),
    MemberPosition(3, "bob.smith", 0, 0),
    MemberPosition(4, "room", 0, 0),
]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("hi @alice", ["Alice"]),
        ("@ALICE and @bob", ["Alice", "bob"]),
        ("@bob @alice @bob", ["bob", "Alice"]),
        ("thanks @bob.", ["bob"]),
        ("ask @bob.smith", ["bob.smith"]),
        ("ask @bob.smith.", ["bob.smith"]),
        ("(@bob)", ["bob"]),
        ("é@bob", ["bob"]),
        ("mail@bob.example", []),
        ("x@bob", []),
        ("@bobby", []),
        ("@carol", []),
        ("@room hello @alice", ["@room", "Alice"]),
        ("@Room!", ["@room"]),
        ("@@bob", ["bob"]),
        ("no at sign", []),
        ("@", []),
    ],
)
def test_find_mentions(text: str, names: list[str]) -> None:
    assert list(find_mentions(text, MEMBERS).names) == names


def test_find_mentions_keeps_ids_and_the_room_flag() -> None:
    found = find_mentions("@room @bob @Alice", MEMBERS)
    assert found.room is True and found.user_ids == (2, 1)


async def rooms_by_id(client: ChatTestClient) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["id"]: r for r in (await client.ok(Event.ROOMS_LIST))["rooms"]}


async def test_mentions_are_computed_by_the_server_and_recomputed_on_edit(
    connect: Connect,
) -> None:
    alice = await connect("Alice")
    bob = await connect("bob")
    await connect("carol")  # a member of general, not of the room below
    await alice.ok(Event.ROOM_CREATE, {"name": "team"})
    await bob.ok(Event.ROOM_JOIN, {"room": "team"})
    payload = {
        "room": "team",
        "client_id": str(uuid.uuid4()),
        "text": "@BOB see @carol and @alice",
        "mentions": ["carol"],
    }
    sent = (await bob.ok(Event.MESSAGE_SEND, payload))["message"]
    assert sent["mentions"] == ["bob", "Alice"]  # as registered; carol is not a member
    got = await alice.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    assert got["mentions"] == ["bob", "Alice"]
    edited = (
        await bob.ok(
            Event.MESSAGE_EDIT, {"room": "team", "id": sent["id"], "text": "@room never mind"}
        )
    )["message"]
    assert edited["mentions"] == ["@room"]
    plain = (
        await bob.ok(Event.MESSAGE_EDIT, {"room": "team", "id": sent["id"], "text": "nothing"})
    )["message"]
    assert plain["mentions"] == []


async def test_unread_and_mention_counts(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "counts"})
    await bob.ok(Event.ROOM_JOIN, {"room": "counts"})
    start = (await rooms_by_id(alice))["counts"]
    # bob's join is a system message: not unread for alice
    assert (start["unread"], start["mentions"]) == (0, 0)
    await bob.send("counts", "plain")
    named = await bob.send("counts", "hey @alice")
    everyone = await bob.send("counts", "@room lunch")
    await alice.send("counts", "@alice talking to myself")  # own messages never count
    room = (await rooms_by_id(alice))["counts"]
    assert (room["unread"], room["mentions"]) == (3, 2)
    assert room["read_up_to"] < named["id"]
    # an edit that drops the mention drops it from the count; one that adds it adds it
    await bob.ok(Event.MESSAGE_EDIT, {"room": "counts", "id": named["id"], "text": "hey"})
    room = (await rooms_by_id(alice))["counts"]
    assert (room["unread"], room["mentions"]) == (3, 1)
    # a deleted message counts for neither
    await bob.ok(Event.MESSAGE_DELETE, {"room": "counts", "id": everyone["id"]})
    room = (await rooms_by_id(alice))["counts"]
    assert (room["unread"], room["mentions"]) == (2, 0)
    await bob.ok(Event.MESSAGE_EDIT, {"room": "counts", "id": named["id"], "text": "@Alice!"})
    room = (await rooms_by_id(alice))["counts"]
    assert (room["unread"], room["mentions"]) == (2, 1)
    # reading up to the newest clears both, and read_up_to says where
    await alice.ok(Event.MESSAGE_RECEIPT, {"room": "counts", "id": named["id"], "state": "read"})
    room = (await rooms_by_id(alice))["counts"]
    assert (room["unread"], room["mentions"], room["read_up_to"]) == (0, 0, named["id"])
    # the counts arrive in room:updated too (a join changes the member count)
    carol = await connect("carol")
    mention = await bob.send("counts", "@alice again")
    await carol.ok(Event.ROOM_JOIN, {"room": "counts"})
    update = await alice.wait_for(
        Event.ROOM_UPDATED, lambda u: u["room"]["id"] == "counts" and u["room"]["members"] == 3
    )
    assert update["room"]["mentions"] == 1 and update["room"]["unread"] == 1
    assert update["room"]["seq"] >= mention["seq"]
    # a room the viewer is not in shows no counts
    others = await rooms_by_id(await connect("dave"))
    assert (others["counts"]["joined"], others["counts"]["read_up_to"]) == (False, 0)
    assert others[GENERAL_ROOM]["joined"] is True
