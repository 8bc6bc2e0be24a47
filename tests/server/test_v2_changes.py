"""Protocol v2, section 10: the room change sequence and ``message:changes`` catch-up.

Every stored change (new message, system message, edit, delete, reaction) takes the room's
``seq`` exactly one up and stamps the message; ``message:changes`` returns current states
since a seq, ascending, page by page. Runs over WebSocket and polling.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import ChatTestClient
from tests.server.v2_helpers import client_for

V2_MESSAGE_FIELDS = {"seq", "edited_ts", "deleted", "reply_to", "reactions", "mentions", "file"}


async def room_seq(client: ChatTestClient, room: str) -> int:
    rooms = (await client.ok(Event.ROOMS_LIST))["rooms"]
    return int(next(r["seq"] for r in rooms if r["id"] == room))


async def all_changes(
    client: ChatTestClient, room: str, since: int, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """Page through message:changes while has_more; (messages, the last answer's seq)."""
    out: list[dict[str, Any]] = []
    while True:
        ack = await client.ok(Event.MESSAGE_CHANGES, {"room": room, "since": since, "limit": limit})
        out += ack["messages"]
        if not ack["has_more"]:
            return out, ack["seq"]
        since = ack["messages"][-1]["seq"]


async def test_every_message_carries_the_v2_fields_also_in_v1_events(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    sent = await alice.send(GENERAL_ROOM, "hello")
    got = await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    history = (await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    for message in (sent, got, history[-1]):
        assert V2_MESSAGE_FIELDS <= set(message)
        assert message["edited_ts"] is None and message["deleted"] is False
        assert message["reply_to"] is None and message["file"] is None
        assert message["reactions"] == [] and message["mentions"] == []
    assert got["seq"] == sent["seq"] and history[-1]["seq"] == sent["seq"]
    room = next(r for r in (await bob.ok(Event.ROOMS_LIST))["rooms"] if r["id"] == GENERAL_ROOM)
    assert room["seq"] == sent["seq"] and room["mentions"] == 0
    assert isinstance(room["read_up_to"], int)


async def test_seq_is_dense_and_stamped_on_every_kind_of_change(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    created = await alice.ok(Event.ROOM_CREATE, {"name": "dense"})
    assert created["room"]["seq"] == 1  # the "created" system message
    await bob.ok(Event.ROOM_JOIN, {"room": "dense"})  # "joined": seq 2
    first = await alice.send("dense", "one")
    assert first["seq"] == 3
    edited = (
        await alice.ok(Event.MESSAGE_EDIT, {"room": "dense", "id": first["id"], "text": "one!"})
    )["message"]
    assert edited["seq"] == 4 and edited["id"] == first["id"]
    reacted = (
        await bob.ok(
            Event.REACTION_SET, {"room": "dense", "id": first["id"], "emoji": "👍", "on": True}
        )
    )["message"]
    assert reacted["seq"] == 5
    second = await bob.send("dense", "two")
    assert second["seq"] == 6
    deleted = (await alice.ok(Event.MESSAGE_DELETE, {"room": "dense", "id": first["id"]}))[
        "message"
    ]
    assert deleted["seq"] == 7
    # no-ops take no seq: same text, same reaction, deleting again
    await bob.ok(
        Event.REACTION_SET, {"room": "dense", "id": second["id"], "emoji": "x", "on": False}
    )
    await alice.ok(Event.MESSAGE_DELETE, {"room": "dense", "id": first["id"]})
    same = (await bob.ok(Event.MESSAGE_EDIT, {"room": "dense", "id": second["id"], "text": "two"}))[
        "message"
    ]
    assert same["seq"] == 6 and same["edited_ts"] is None
    assert await room_seq(alice, "dense") == 7
    # the changes since 0 are the current states, ascending by seq, each message once
    changes, seq = await all_changes(bob, "dense", 0)
    assert seq == 7
    assert [m["seq"] for m in changes] == [1, 2, 6, 7]
    assert changes[-1]["id"] == first["id"] and changes[-1]["deleted"] is True


async def test_changes_pages_with_has_more_and_reports_the_room_seq(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "paged"})
    for i in range(7):
        await alice.send("paged", f"m{i}")
    page = await alice.ok(Event.MESSAGE_CHANGES, {"room": "paged", "since": 0, "limit": 3})
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3]
    assert page["has_more"] is True and page["seq"] == 8
    rest, seq = await all_changes(alice, "paged", 3, limit=3)
    assert [m["seq"] for m in rest] == [4, 5, 6, 7, 8] and seq == 8
    empty = await alice.ok(Event.MESSAGE_CHANGES, {"room": "paged", "since": 8})
    assert empty["messages"] == [] and empty["has_more"] is False and empty["seq"] == 8
    beyond = await alice.ok(Event.MESSAGE_CHANGES, {"room": "paged", "since": 10**6})
    assert beyond["messages"] == [] and beyond["seq"] == 8
    # own messages carry receipts in changes, as in history
    assert "receipts" in rest[-1]


async def test_changes_is_for_members_only_and_checks_its_payload(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "closed-door", "private": True})
    await alice.ok(Event.ROOM_CREATE, {"name": "open-door"})
    # a private room is not_found for a non-member (main's rule); a public one is forbidden
    assert await bob.error(Event.MESSAGE_CHANGES, {"room": "closed-door", "since": 0}) == (
        ErrorCode.NOT_FOUND
    )
    assert await bob.error(Event.MESSAGE_CHANGES, {"room": "open-door", "since": 0}) == (
        ErrorCode.FORBIDDEN
    )
    assert await bob.error(Event.MESSAGE_CHANGES, {"room": "nowhere", "since": 0}) == (
        ErrorCode.NOT_FOUND
    )
    for bad in (
        {"room": GENERAL_ROOM},
        {"room": GENERAL_ROOM, "since": -1},
        {"room": GENERAL_ROOM, "since": "3"},
        {"room": GENERAL_ROOM, "since": True},
        {"room": GENERAL_ROOM, "since": 0, "limit": 0},
        {"room": GENERAL_ROOM, "since": 0, "limit": 101},
        {"room": "Bad Room", "since": 0},
    ):
        assert await bob.error(Event.MESSAGE_CHANGES, bad) == ErrorCode.BAD_REQUEST, bad


async def test_message_updated_goes_to_the_room_except_the_changing_connection(
    connect: Connect,
) -> None:
    alice = await connect("alice")
    alice_phone = await connect(auth={"token": alice.session["token"]})
    bob = await connect("bob")
    sent = await alice.send(GENERAL_ROOM, "typo")
    edited = (
        await alice.ok(
            Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": sent["id"], "text": "fixed"}
        )
    )["message"]
    for other in (bob, alice_phone):
        update = await other.wait_for(
            Event.MESSAGE_UPDATED, lambda u: u["message"]["seq"] == edited["seq"]
        )
        assert update["room"] == GENERAL_ROOM and update["message"]["text"] == "fixed"
        assert update["message"]["edited_ts"] == edited["edited_ts"]
        assert "receipts" not in update["message"]
    # a marker after the edit: once it is in, alice's own connection would have the update
    marker = await bob.send(GENERAL_ROOM, "marker")
    await alice.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert alice.received(Event.MESSAGE_UPDATED) == []


async def test_a_client_that_was_offline_catches_up_edits_deletes_and_reactions(
    connect: Connect,
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "catchup"})
    await bob.ok(Event.ROOM_JOIN, {"room": "catchup"})
    keep = await alice.send("catchup", "will be edited")
    gone = await alice.send("catchup", "will be deleted")
    liked = await alice.send("catchup", "will be liked")
    held, held_seq = await all_changes(bob, "catchup", 0)
    state = {m["id"]: m for m in held}
    bob_token = bob.session["token"]
    await bob.disconnect()

    # while bob is away
    await alice.ok(Event.MESSAGE_EDIT, {"room": "catchup", "id": keep["id"], "text": "edited"})
    await alice.ok(Event.MESSAGE_EDIT, {"room": "catchup", "id": keep["id"], "text": "edited 2"})
    await alice.ok(Event.MESSAGE_DELETE, {"room": "catchup", "id": gone["id"]})
    await alice.ok(
        Event.REACTION_SET, {"room": "catchup", "id": liked["id"], "emoji": "🎉", "on": True}
    )
    new = await alice.send("catchup", "new while away")

    bob = await connect(auth={"token": bob_token})
    changes, seq = await all_changes(bob, "catchup", held_seq, limit=2)
    assert [m["id"] for m in changes] == [keep["id"], gone["id"], liked["id"], new["id"]]
    assert seq == held_seq + 5  # two edits, a delete, a reaction, a message
    for m in changes:
        state[m["id"]] = m
    assert state[keep["id"]]["text"] == "edited 2" and state[keep["id"]]["edited_ts"]
    assert state[gone["id"]]["deleted"] is True and state[gone["id"]]["text"] == ""
    assert state[liked["id"]]["reactions"] == [{"emoji": "🎉", "users": ["alice"]}]
    assert state[new["id"]]["text"] == "new while away"
    # what bob now holds equals the server's history
    history = (await bob.ok(Event.MESSAGE_HISTORY, {"room": "catchup"}))["messages"]
    assert {m["id"]: (m["text"], m["deleted"], m["reactions"]) for m in history} == {
        i: (m["text"], m["deleted"], m["reactions"]) for i, m in state.items()
    }


async def test_concurrent_changes_in_one_room_keep_seq_dense_and_unique(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "busy"})
    await bob.ok(Event.ROOM_JOIN, {"room": "busy"})
    target = await alice.send("busy", "react to me")
    start = await room_seq(alice, "busy")
    emoji = ["😀", "😎", "🙂", "🔥", "✅"]
    acks = await asyncio.gather(
        *(alice.send("busy", f"a{i}") for i in range(5)),
        *(bob.send("busy", f"b{i}") for i in range(5)),
        *(
            c.ok(Event.REACTION_SET, {"room": "busy", "id": target["id"], "emoji": e, "on": True})
            for c in (alice, bob)
            for e in emoji
        ),
    )
    seqs = [a["seq"] if "seq" in a else a["message"]["seq"] for a in acks]
    assert sorted(seqs) == list(range(start + 1, start + 21))
    assert await room_seq(bob, "busy") == start + 20


async def test_an_edit_racing_a_delete_never_outlives_it(connect: Connect) -> None:
    """Each change re-checks the message in its own transaction: an edit that lands after
    the delete is a conflict, one that lands before it is folded into the tombstone."""
    alice = await connect("alice")
    alice_phone = await connect(auth={"token": alice.session["token"]})
    await alice.ok(Event.ROOM_CREATE, {"name": "race"})
    for i in range(6):
        msg = await alice.send("race", f"race {i}")
        base = {"room": "race", "id": msg["id"]}
        edit, delete = await asyncio.gather(
            alice_phone.call(Event.MESSAGE_EDIT, {**base, "text": f"edited {i}"}),
            alice.call(Event.MESSAGE_DELETE, base),
        )
        assert delete["ok"] is True and delete["message"]["deleted"] is True
        if edit["ok"]:
            assert edit["message"]["seq"] < delete["message"]["seq"]
        else:
            assert edit["error"]["code"] == ErrorCode.CONFLICT
        state = await alice.ok(Event.MESSAGE_CHANGES, {"room": "race", "since": msg["seq"]})
        final = next(m for m in state["messages"] if m["id"] == msg["id"])
        assert final["deleted"] is True and final["text"] == ""
        assert final["seq"] == delete["message"]["seq"] == state["seq"]


async def test_broadcasts_of_one_room_arrive_in_seq_order_under_concurrency(
    server_factory: ServerFactory, transport: str
) -> None:
    """New messages (batched inserts) and changes (single writes) finish their storage calls
    by different paths; their broadcasts must still leave in seq order, or a client that
    drops between two of them would catch up past the one it missed."""
    server = await server_factory(rate_limit_messages=0)
    alice, bob, carol = [await client_for(server, transport, n) for n in ("alice", "bob", "carol")]
    try:
        await alice.ok(Event.ROOM_CREATE, {"name": "ordered"})
        for c in (bob, carol):
            await c.ok(Event.ROOM_JOIN, {"room": "ordered"})
        target = await alice.send("ordered", "target")
        # a few in flight per client: engine.io refuses a polling POST of too many packets
        window = asyncio.Semaphore(6)

        async def bounded(call: Any) -> Any:
            async with window:
                return await call

        calls = []
        for i in range(40):
            calls.append(alice.send("ordered", f"a{i}"))
            calls.append(
                bob.ok(
                    Event.REACTION_SET,
                    {
                        "room": "ordered",
                        "id": target["id"],
                        "emoji": chr(0x1F600 + i % 20),
                        "on": i < 20,
                    },
                )
            )
            calls.append(
                alice.ok(
                    Event.MESSAGE_EDIT, {"room": "ordered", "id": target["id"], "text": f"edit {i}"}
                )
            )
        await asyncio.gather(*(bounded(c) for c in calls))
        marker = await alice.send("ordered", "the last change")
        await carol.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
        seen = []
        for r in carol.events:
            if r.event == Event.MESSAGE and r.data["room"] == "ordered":
                seen.append(r.data["seq"])
            elif r.event == Event.MESSAGE_UPDATED and r.data["room"] == "ordered":
                seen.append(r.data["message"]["seq"])
        assert seen == list(range(seen[0], marker["seq"] + 1))
    finally:
        for c in (alice, bob, carol):
            await c.disconnect()
