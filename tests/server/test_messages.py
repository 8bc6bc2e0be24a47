"""Messages: send, fan-out, idempotency, history paging, typing, and the message rate limit."""

from __future__ import annotations

import asyncio
import uuid

from server.protocol import GENERAL_ROOM, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import PASSWORD, ChatTestClient


async def test_send_acks_the_stored_message_and_broadcasts_to_others(connect: Connect) -> None:
    alice = await connect("alice")
    alice_phone = await connect(auth={"token": alice.session["token"]})
    bob = await connect("bob")
    cid = str(uuid.uuid4())
    ack = await alice.ok(
        Event.MESSAGE_SEND,
        {"room": GENERAL_ROOM, "client_id": cid, "text": "hi <b>bob</b>", "sender": "mallory"},
    )
    message = ack["message"]
    assert message["sender"] == "alice" and message["kind"] == "text"
    assert message["text"] == "hi <b>bob</b>" and message["client_id"] == cid
    assert message["image"] is None and message["system"] is None
    assert isinstance(message["ts"], int) and message["id"] > 0
    assert message["receipts"] == {"delivered": 0, "read": 0, "of": 1}
    got = await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == message["id"])
    assert "receipts" not in got and got["text"] == message["text"]
    # the sender's other device gets it; the sending connection does not
    await alice_phone.wait_for(Event.MESSAGE, lambda m: m["id"] == message["id"])
    marker = await bob.send(GENERAL_ROOM, "marker")
    await alice.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert message["id"] not in [m["id"] for m in alice.received(Event.MESSAGE)]


async def test_resend_with_the_same_client_id_stores_and_broadcasts_once(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    payload = {"room": GENERAL_ROOM, "client_id": "same-id", "text": "once"}
    first = (await alice.ok(Event.MESSAGE_SEND, payload))["message"]
    second = (await alice.ok(Event.MESSAGE_SEND, payload))["message"]
    assert second["id"] == first["id"] and second["ts"] == first["ts"]
    marker = await alice.send(GENERAL_ROOM, "marker")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert [m["id"] for m in bob.received(Event.MESSAGE)].count(first["id"]) == 1


async def test_concurrent_duplicates_from_two_connections_store_one(connect: Connect) -> None:
    alice = await connect("alice")
    alice_phone = await connect(auth={"token": alice.session["token"]})
    bob = await connect("bob")
    payload = {"room": GENERAL_ROOM, "client_id": "raced", "text": "race"}
    acks = await asyncio.gather(
        *(c.ok(Event.MESSAGE_SEND, payload) for c in (alice, alice_phone) for _ in range(3))
    )
    assert len({a["message"]["id"] for a in acks}) == 1
    marker = await alice.send(GENERAL_ROOM, "marker")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert [m["text"] for m in bob.received(Event.MESSAGE)].count("race") == 1
    history = (await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    assert [m["text"] for m in history].count("race") == 1


async def test_message_ids_strictly_increase(connect: Connect) -> None:
    alice = await connect("alice")
    acks = await asyncio.gather(*(alice.send(GENERAL_ROOM, f"m{i}") for i in range(10)))
    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    ids = [m["id"] for m in history]
    assert ids == sorted(set(ids))
    assert {a["id"] for a in acks} <= set(ids)


async def test_invalid_sends_are_refused_with_the_right_code(connect: Connect) -> None:
    alice = await connect("alice")
    await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    base = {"room": GENERAL_ROOM, "client_id": "c"}
    cases = [
        ({**base, "text": "   "}, "bad_request"),
        ({**base}, "bad_request"),
        ({**base, "text": 5}, "bad_request"),
        ({"room": GENERAL_ROOM, "text": "no client id"}, "bad_request"),
        ({**base, "client_id": "", "text": "x"}, "bad_request"),
        ({**base, "client_id": "x" * 65, "text": "x"}, "bad_request"),
        ({**base, "room": "nowhere", "text": "x"}, "not_found"),
        ({**base, "room": "NOPE", "text": "x"}, "bad_request"),
        ({**base, "text": "x" * 4001}, "too_large"),
        ({**base, "image": "not an object"}, "bad_request"),
        ({**base, "image": {"data": "text, not bytes"}}, "bad_request"),
    ]
    for payload, code in cases:
        assert await alice.error(Event.MESSAGE_SEND, payload) == code, payload
    bob = await connect("bob")
    assert (
        await bob.error(Event.MESSAGE_SEND, {"room": "secret", "client_id": "b", "text": "x"})
        == "forbidden"
    )
    # nothing above was stored; the connection is fine
    assert (await alice.send(GENERAL_ROOM, "x" * 4000))["text"] == "x" * 4000


async def test_history_pages_before_and_after(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "log"})
    sent = [(await alice.send("log", f"m{i}"))["id"] for i in range(7)]
    everything = await alice.ok(Event.MESSAGE_HISTORY, {"room": "log"})
    assert everything["has_more"] is False
    all_ids = [m["id"] for m in everything["messages"]]
    assert all_ids[1:] == sent  # the first is the "created" system message

    newest = await alice.ok(Event.MESSAGE_HISTORY, {"room": "log", "limit": 3})
    assert [m["id"] for m in newest["messages"]] == sent[-3:] and newest["has_more"] is True
    older = await alice.ok(Event.MESSAGE_HISTORY, {"room": "log", "limit": 3, "before": sent[-3]})
    assert [m["id"] for m in older["messages"]] == sent[-6:-3] and older["has_more"] is True
    oldest = await alice.ok(Event.MESSAGE_HISTORY, {"room": "log", "limit": 3, "before": sent[-6]})
    assert [m["id"] for m in oldest["messages"]] == all_ids[:2] and oldest["has_more"] is False

    after = await alice.ok(Event.MESSAGE_HISTORY, {"room": "log", "limit": 4, "after": sent[0]})
    assert [m["id"] for m in after["messages"]] == sent[1:5] and after["has_more"] is True
    tail = await alice.ok(Event.MESSAGE_HISTORY, {"room": "log", "limit": 4, "after": sent[4]})
    assert [m["id"] for m in tail["messages"]] == sent[5:] and tail["has_more"] is False
    own = tail["messages"][0]
    assert own["receipts"] == {"delivered": 0, "read": 0, "of": 0}

    for bad in [
        {"limit": 0},
        {"limit": 101},
        {"limit": "5"},
        {"before": -1},
        {"after": 2**70},
        {"before": True},
        {"before": 1, "after": 1},
    ]:
        assert await alice.error(Event.MESSAGE_HISTORY, {"room": "log", **bad}) == "bad_request", (
            bad
        )


async def test_typing_is_relayed_to_other_connections_only(connect: Connect) -> None:
    alice = await connect("alice")
    alice_phone = await connect(auth={"token": alice.session["token"]})
    bob = await connect("bob")
    await alice.sio.emit(Event.TYPING, {"room": GENERAL_ROOM, "typing": True})
    got = await bob.wait_for(Event.TYPING)
    assert got == {"room": GENERAL_ROOM, "user": "alice", "typing": True}
    # acked typing answers {ok: true}; bad typing answers an error
    assert await alice.ok(Event.TYPING, {"room": GENERAL_ROOM, "typing": False})
    await bob.wait_for(Event.TYPING, lambda t: t["typing"] is False)
    assert await alice.error(Event.TYPING, {"room": GENERAL_ROOM, "typing": "yes"}) == "bad_request"
    marker = await bob.send(GENERAL_ROOM, "marker")
    await alice_phone.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert alice_phone.received(Event.TYPING) == [] and alice.received(Event.TYPING) == []


async def test_message_rate_limit_answers_rate_limited_and_keeps_the_connection(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(rate_limit_messages=5, rate_limit_window_s=60)
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    for i in range(5):
        await alice.send(GENERAL_ROOM, f"m{i}")
    assert (
        await alice.error(Event.MESSAGE_SEND, {"room": GENERAL_ROOM, "client_id": "6", "text": "x"})
        == "rate_limited"
    )
    assert alice.sio.connected
    assert (await alice.ok(Event.ROOMS_LIST))["rooms"]
    await alice.disconnect()


async def test_rate_limit_can_be_switched_off(server_factory: ServerFactory) -> None:
    server = await server_factory(rate_limit_messages=0)
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    acks = await asyncio.gather(*(alice.send(GENERAL_ROOM, f"m{i}") for i in range(40)))
    assert len({a["id"] for a in acks}) == 40
    await alice.disconnect()
