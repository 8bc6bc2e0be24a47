"""Rooms: list, create, join/leave, private rooms and invites, topics, closing, DMs."""

from __future__ import annotations

from server.protocol import GENERAL_ROOM, Event
from tests.server.conftest import Connect


async def test_rooms_list_shows_joined_rooms_and_public_rooms_to_join(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "lobby", "topic": "hi"})
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    rooms = {r["id"]: r for r in (await bob.ok(Event.ROOMS_LIST))["rooms"]}
    assert set(rooms) == {GENERAL_ROOM, "lobby"}
    assert rooms[GENERAL_ROOM]["joined"] is True
    lobby = rooms["lobby"]
    assert lobby["joined"] is False and lobby["unread"] == 0
    assert lobby["kind"] == "public" and lobby["owner"] == "alice" and lobby["topic"] == "hi"
    assert lobby["members"] == 1 and lobby["name"] == "lobby"
    assert lobby["last_message"]["system"] == {"event": "created", "user": "alice"}


async def test_create_makes_the_creator_owner_and_member(connect: Connect) -> None:
    alice = await connect("alice")
    room = (await alice.ok(Event.ROOM_CREATE, {"name": "team-1"}))["room"]
    assert room["id"] == "team-1" and room["joined"] is True and room["owner"] == "alice"
    members = (await alice.ok(Event.ROOM_MEMBERS, {"room": "team-1"}))["members"]
    assert members == [{"name": "alice", "online": True}]


async def test_create_rejects_taken_and_invalid_ids(connect: Connect) -> None:
    alice = await connect("alice")
    assert await alice.error(Event.ROOM_CREATE, {"name": GENERAL_ROOM}) == "conflict"
    for bad in ["Team", "-x", "", "a" * 41, "dm:alice:bob", 7, None, "sp ace"]:
        assert await alice.error(Event.ROOM_CREATE, {"name": bad}) == "bad_request", bad
    assert await alice.error(Event.ROOM_CREATE, {"name": "ok", "topic": "x" * 201}) == "bad_request"
    assert await alice.error(Event.ROOM_CREATE, {"name": "ok", "private": "yes"}) == "bad_request"


async def test_join_returns_room_members_and_newest_messages_and_tells_the_room(
    connect: Connect,
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "lobby"})
    hello = await alice.send("lobby", "hello")
    ack = await bob.ok(Event.ROOM_JOIN, {"room": "lobby"})
    assert ack["room"]["joined"] is True and ack["room"]["members"] == 2
    assert {m["name"] for m in ack["members"]} == {"alice", "bob"}
    ids = [m["id"] for m in ack["messages"]]
    assert ids == sorted(ids) and hello["id"] in ids
    assert ack["messages"][-1]["system"] == {"event": "joined", "user": "bob"}
    joined = await alice.wait_for(
        Event.MESSAGE,
        lambda m: (
            m["kind"] == "system" and m["room"] == "lobby" and m["system"]["event"] == "joined"
        ),
    )
    assert joined["sender"] is None and joined["text"] == "bob joined"
    await alice.wait_for(
        Event.PRESENCE, lambda p: p == {"room": "lobby", "user": "bob", "state": "joined"}
    )
    updated = await alice.wait_for(Event.ROOM_UPDATED, lambda u: u["room"]["id"] == "lobby")
    assert updated["room"]["members"] == 2
    # joining again is harmless: no second system message
    again = await bob.ok(Event.ROOM_JOIN, {"room": "lobby"})
    assert [m["id"] for m in again["messages"]] == ids


async def test_join_unknown_or_private_room_is_refused(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    assert await bob.error(Event.ROOM_JOIN, {"room": "secret"}) == "forbidden"
    assert await bob.error(Event.ROOM_JOIN, {"room": "nowhere"}) == "not_found"
    assert await bob.error(Event.ROOM_JOIN, {"room": "Bad Id"}) == "bad_request"
    assert await bob.error(Event.ROOM_JOIN, {}) == "bad_request"
    # a private room is invisible to non-members (docs/protocol.md): not_found, not forbidden
    assert await bob.error(Event.ROOM_MEMBERS, {"room": "secret"}) == "not_found"
    assert await bob.error(Event.MESSAGE_HISTORY, {"room": "secret"}) == "not_found"


async def test_leave_ends_membership_and_subscription(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "lobby"})
    await bob.ok(Event.ROOM_JOIN, {"room": "lobby"})
    await bob.ok(Event.ROOM_LEAVE, {"room": "lobby"})
    await alice.wait_for(
        Event.PRESENCE, lambda p: p == {"room": "lobby", "user": "bob", "state": "left"}
    )
    await alice.wait_for(
        Event.MESSAGE,
        lambda m: m["room"] == "lobby" and m["system"] == {"event": "left", "user": "bob"},
    )
    rooms = {r["id"]: r for r in (await bob.ok(Event.ROOMS_LIST))["rooms"]}
    assert rooms["lobby"]["joined"] is False
    after_leave = await alice.send("lobby", "bob should not get this")
    # bob still gets general traffic, so a general message after it proves ordering
    marker = await alice.send(GENERAL_ROOM, "marker")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert after_leave["id"] not in [m["id"] for m in bob.received(Event.MESSAGE)]
    assert (
        await bob.error(Event.MESSAGE_SEND, {"room": "lobby", "text": "x", "client_id": "c1"})
        == "forbidden"
    )
    # leaving general is allowed too
    await bob.ok(Event.ROOM_LEAVE, {"room": GENERAL_ROOM})


async def test_invite_adds_a_member_who_gets_room_added(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await connect("carol")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    await alice.ok(Event.ROOM_INVITE, {"room": "secret", "user": "bob"})
    added = await bob.wait_for(Event.ROOM_ADDED)
    assert added["room"]["id"] == "secret" and added["room"]["joined"] is True
    await bob.ok(Event.ROOM_JOIN, {"room": "secret"})
    # any member may invite; outsiders may not
    await bob.ok(Event.ROOM_INVITE, {"room": "secret", "user": "carol"})
    assert await alice.error(Event.ROOM_INVITE, {"room": "secret", "user": "nobody"}) == "not_found"
    assert (
        await alice.error(Event.ROOM_INVITE, {"room": GENERAL_ROOM, "user": "bob"}) == "bad_request"
    )
    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": "secret"}))["messages"]
    assert {"event": "invited", "user": "bob"} in [m["system"] for m in history]


async def test_outsider_cannot_invite(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    assert await bob.error(Event.ROOM_INVITE, {"room": "secret", "user": "bob"}) == "not_found"


async def test_topic_change_updates_every_member(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    ack = await alice.ok(Event.ROOM_TOPIC, {"room": GENERAL_ROOM, "topic": "Welcome!"})
    assert ack["room"]["topic"] == "Welcome!"
    updated = await bob.wait_for(Event.ROOM_UPDATED, lambda u: u["room"]["topic"] == "Welcome!")
    assert updated["room"]["id"] == GENERAL_ROOM
    line = await bob.wait_for(
        Event.MESSAGE, lambda m: m["system"] == {"event": "topic", "user": "alice"}
    )
    # the readable line carries the new topic, so a client shows what changed
    assert line["text"] == "alice changed the topic to \u201cWelcome!\u201d"
    assert (
        await alice.error(Event.ROOM_TOPIC, {"room": GENERAL_ROOM, "topic": "x" * 201})
        == "bad_request"
    )
    assert await alice.error(Event.ROOM_TOPIC, {"room": GENERAL_ROOM}) == "bad_request"


async def test_owner_closes_a_room_and_members_get_room_closed(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "lobby"})
    await bob.ok(Event.ROOM_JOIN, {"room": "lobby"})
    assert await bob.error(Event.ROOM_CLOSE, {"room": "lobby"}) == "forbidden"
    assert await alice.error(Event.ROOM_CLOSE, {"room": GENERAL_ROOM}) == "forbidden"
    await alice.ok(Event.ROOM_CLOSE, {"room": "lobby"})
    assert await bob.wait_for(Event.ROOM_CLOSED) == {"room": "lobby"}
    assert await bob.error(Event.MESSAGE_HISTORY, {"room": "lobby"}) == "not_found"
    assert "lobby" not in [r["id"] for r in (await bob.ok(Event.ROOMS_LIST))["rooms"]]
    # the id is free again
    await bob.ok(Event.ROOM_CREATE, {"name": "lobby"})
    assert (await bob.ok(Event.MESSAGE_HISTORY, {"room": "lobby"}))["messages"][0]["system"][
        "user"
    ] == "bob"


async def test_dm_open_creates_the_room_for_both(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("Bob")
    carol = await connect("carol")
    room = (await alice.ok(Event.DM_OPEN, {"user": "BOB"}))["room"]
    assert room["id"] == "dm:alice:bob" and room["kind"] == "dm" and room["name"] == "Bob"
    assert room["members"] == 2 and room["owner"] is None
    added = await bob.wait_for(Event.ROOM_ADDED)
    assert added["room"]["id"] == "dm:alice:bob" and added["room"]["name"] == "alice"
    # opening again returns the same room
    assert (await alice.ok(Event.DM_OPEN, {"user": "bob"}))["room"]["id"] == "dm:alice:bob"
    message = await alice.send("dm:alice:bob", "psst")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == message["id"])
    assert await carol.error(Event.ROOM_JOIN, {"room": "dm:alice:bob"}) == "forbidden"
    assert await alice.error(Event.DM_OPEN, {"user": "alice"}) == "bad_request"
    assert await alice.error(Event.DM_OPEN, {"user": "nobody"}) == "not_found"
    rooms = [r["id"] for r in (await carol.ok(Event.ROOMS_LIST))["rooms"]]
    assert "dm:alice:bob" not in rooms
