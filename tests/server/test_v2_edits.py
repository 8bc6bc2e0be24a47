"""Protocol v2, sections 11 and 12: replies, ``message:edit`` and ``message:delete``.

Over WebSocket and polling: who may do what, the exact error codes, tombstones, a reply's
preview read at read time, and a deleted image's bytes gone at once (``media:get`` and
``GET /media``).
"""

from __future__ import annotations

import asyncio
import io
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from PIL import Image

from server.app import RunningServer
from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import ChatTestClient
from tests.server.v2_helpers import client_for


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


async def send(client: ChatTestClient, room: str, **fields: Any) -> dict[str, Any]:
    payload = {"room": room, "client_id": str(uuid.uuid4()), **fields}
    return (await client.ok(Event.MESSAGE_SEND, payload))["message"]


def http_status(url: str, token: str) -> int:
    """GET with the bearer token (blocking: call it off the loop that runs the server)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        assert json.loads(exc.read())["error"]["code"]
        return int(exc.code)


# -- replies --------------------------------------------------------------------------------


async def test_a_reply_carries_a_preview_of_its_parent_as_it_is_now(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    long_text = "x" * 150 + "é" * 100
    parent = await alice.send(GENERAL_ROOM, long_text)
    reply = await send(bob, GENERAL_ROOM, text="agreed", reply_to=parent["id"])
    preview = reply["reply_to"]
    assert preview == {
        "id": parent["id"],
        "sender": "alice",
        "kind": "text",
        "text": long_text[:200],
        "deleted": False,
    }
    got = await alice.wait_for(Event.MESSAGE, lambda m: m["id"] == reply["id"])
    assert got["reply_to"] == preview
    # the parent changes: the reply, read again, shows it
    await alice.ok(Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": parent["id"], "text": "new"})
    history = (await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    assert next(m for m in history if m["id"] == reply["id"])["reply_to"]["text"] == "new"
    await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": parent["id"]})
    history = (await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    quote = next(m for m in history if m["id"] == reply["id"])["reply_to"]
    assert quote["deleted"] is True and quote["text"] == "" and quote["id"] == parent["id"]


async def test_reply_to_must_be_a_live_message_of_the_same_room(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "elsewhere"})
    other_room = await alice.send("elsewhere", "not here")
    deleted = await alice.send(GENERAL_ROOM, "soon gone")
    await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": deleted["id"]})
    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    system = next(m for m in history if m["kind"] == "system")
    base = {"room": GENERAL_ROOM, "text": "re"}
    cases = [
        (10**9, ErrorCode.NOT_FOUND),
        (other_room["id"], ErrorCode.NOT_FOUND),
        (deleted["id"], ErrorCode.NOT_FOUND),
        (system["id"], ErrorCode.BAD_REQUEST),
        ("12", ErrorCode.BAD_REQUEST),
        (-1, ErrorCode.BAD_REQUEST),
        (True, ErrorCode.BAD_REQUEST),
    ]
    for reply_to, code in cases:
        payload = {**base, "client_id": str(uuid.uuid4()), "reply_to": reply_to}
        assert await alice.error(Event.MESSAGE_SEND, payload) == code, reply_to


async def test_a_resent_reply_is_answered_after_its_parent_was_deleted(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    parent = await alice.send(GENERAL_ROOM, "parent")
    payload = {"room": GENERAL_ROOM, "client_id": "reply-1", "text": "re", "reply_to": parent["id"]}
    first = (await bob.ok(Event.MESSAGE_SEND, payload))["message"]
    await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": parent["id"]})
    again = (await bob.ok(Event.MESSAGE_SEND, payload))["message"]
    assert again["id"] == first["id"] and again["reply_to"]["deleted"] is True
    # a new reply to the deleted parent is refused
    fresh = {**payload, "client_id": "reply-2"}
    assert await bob.error(Event.MESSAGE_SEND, fresh) == ErrorCode.NOT_FOUND


# -- edits ----------------------------------------------------------------------------------


async def test_the_sender_edits_and_the_room_sees_it(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    sent = await alice.send(GENERAL_ROOM, "helo")
    ack = await alice.ok(
        Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": sent["id"], "text": "hello"}
    )
    edited = ack["message"]
    assert edited["text"] == "hello" and edited["id"] == sent["id"]
    assert isinstance(edited["edited_ts"], int) and edited["edited_ts"] >= sent["ts"]
    assert edited["seq"] > sent["seq"] and "receipts" in edited
    update = await bob.wait_for(Event.MESSAGE_UPDATED, lambda u: u["message"]["id"] == sent["id"])
    assert update["message"]["text"] == "hello"
    # same text again: success, nothing new
    again = (
        await alice.ok(
            Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": sent["id"], "text": "hello"}
        )
    )["message"]
    assert again["seq"] == edited["seq"] and again["edited_ts"] == edited["edited_ts"]
    marker = await alice.send(GENERAL_ROOM, "marker")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == marker["id"])
    assert len(bob.received(Event.MESSAGE_UPDATED)) == 1


async def test_edit_refusals_have_the_documented_codes(
    server_factory: ServerFactory, transport: str
) -> None:
    server = await server_factory(max_text_chars=50)
    alice, bob, carol = [await client_for(server, transport, n) for n in ("alice", "bob", "carol")]
    try:
        await alice.ok(Event.ROOM_CREATE, {"name": "priv", "private": True})
        mine = await alice.send(GENERAL_ROOM, "mine")
        priv = await alice.send("priv", "private")
        deleted = await alice.send(GENERAL_ROOM, "deleted")
        await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": deleted["id"]})
        system = next(
            m
            for m in (await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
            if m["kind"] == "system"
        )
        edit = Event.MESSAGE_EDIT
        g = GENERAL_ROOM
        cases: list[tuple[ChatTestClient, Any, str]] = [
            (bob, {"room": g, "id": mine["id"], "text": "hijack"}, ErrorCode.FORBIDDEN),
            (alice, {"room": g, "id": system["id"], "text": "x"}, ErrorCode.FORBIDDEN),
            (alice, {"room": g, "id": deleted["id"], "text": "x"}, ErrorCode.CONFLICT),
            (alice, {"room": g, "id": 10**9, "text": "x"}, ErrorCode.NOT_FOUND),
            (alice, {"room": g, "id": priv["id"], "text": "x"}, ErrorCode.NOT_FOUND),
            (carol, {"room": "priv", "id": priv["id"], "text": "x"}, ErrorCode.NOT_FOUND),
            (alice, {"room": "nowhere", "id": mine["id"], "text": "x"}, ErrorCode.NOT_FOUND),
            (alice, {"room": g, "id": mine["id"], "text": "   "}, ErrorCode.BAD_REQUEST),
            (alice, {"room": g, "id": mine["id"], "text": ""}, ErrorCode.BAD_REQUEST),
            (alice, {"room": g, "id": mine["id"], "text": "y" * 51}, ErrorCode.TOO_LARGE),
            (alice, {"room": g, "id": mine["id"]}, ErrorCode.BAD_REQUEST),
            (alice, {"room": g, "id": "1", "text": "x"}, ErrorCode.BAD_REQUEST),
            (alice, {"room": g, "text": "x"}, ErrorCode.BAD_REQUEST),
            (alice, {"room": g, "id": mine["id"], "text": 5}, ErrorCode.BAD_REQUEST),
            (alice, ["not", "an", "object"], ErrorCode.BAD_REQUEST),
        ]
        for who, payload, code in cases:
            assert await who.error(edit, payload) == code, payload
        # the 50-character text is still fine, and nothing above changed the message
        ok = (await alice.ok(edit, {"room": g, "id": mine["id"], "text": "z" * 50}))["message"]
        assert ok["text"] == "z" * 50
        assert alice.sio.connected and bob.sio.connected and carol.sio.connected
    finally:
        for c in (alice, bob, carol):
            await c.disconnect()


async def test_an_image_caption_may_be_edited_to_empty(connect: Connect) -> None:
    alice = await connect("alice")
    image = await send(alice, GENERAL_ROOM, text="caption", image={"data": png()})
    edited = (
        await alice.ok(Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": image["id"], "text": ""})
    )["message"]
    assert edited["text"] == "" and edited["kind"] == "image"
    assert edited["image"]["id"] == image["image"]["id"]


# -- deletes --------------------------------------------------------------------------------


async def test_delete_leaves_a_tombstone_and_erases_the_image_at_once(
    connect: Connect, server: RunningServer
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    parent = await bob.send(GENERAL_ROOM, "parent")
    image = await send(
        alice, GENERAL_ROOM, text="see @bob", image={"data": png()}, reply_to=parent["id"]
    )
    await bob.ok(
        Event.REACTION_SET, {"room": GENERAL_ROOM, "id": image["id"], "emoji": "👀", "on": True}
    )
    image_id = image["image"]["id"]
    assert (await bob.ok(Event.MEDIA_GET, {"id": image_id}))["data"] == png()
    token = bob.session["token"]
    assert await asyncio.to_thread(http_status, f"{server.url}/media/{image_id}", token) == 200

    tomb = (await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": image["id"]}))[
        "message"
    ]
    kept = ("id", "room", "sender", "ts", "kind", "client_id")
    assert {k: tomb[k] for k in kept} == {k: image[k] for k in kept}
    assert tomb["deleted"] is True and tomb["text"] == "" and tomb["seq"] > image["seq"]
    assert tomb["image"] is None and tomb["file"] is None and tomb["reply_to"] is None
    assert tomb["reactions"] == [] and tomb["mentions"] == []
    update = await bob.wait_for(Event.MESSAGE_UPDATED, lambda u: u["message"]["id"] == tomb["id"])
    assert update["message"]["deleted"] is True
    assert await bob.error(Event.MEDIA_GET, {"id": image_id}) == ErrorCode.NOT_FOUND
    assert await asyncio.to_thread(http_status, f"{server.url}/media/{image_id}", token) == 404
    # deleting again succeeds and changes nothing
    again = (await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": image["id"]}))[
        "message"
    ]
    assert again["seq"] == tomb["seq"]
    history = (await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    assert next(m for m in history if m["id"] == image["id"])["deleted"] is True


async def test_who_may_delete(
    server_factory: ServerFactory, transport: str, tmp_path: Path
) -> None:
    # operators are users that exist when the server starts: register olga first
    data_dir = tmp_path / "with-operator"
    first = await server_factory(data_dir=data_dir)
    olga = await client_for(first, transport, "olga")
    await olga.disconnect()
    await first.stop()
    server = await server_factory(operators=["Olga"], data_dir=data_dir)
    alice, bob, carol, olga = [
        await client_for(server, transport, n) for n in ("alice", "bob", "carol", "olga")
    ]
    try:
        await alice.ok(Event.ROOM_CREATE, {"name": "owned"})
        await alice.ok(Event.ROOM_CREATE, {"name": "hidden", "private": True})
        for c in (bob, carol):
            await c.ok(Event.ROOM_JOIN, {"room": "owned"})
        by_bob = await bob.send("owned", "bob's")
        by_bob_2 = await bob.send("owned", "bob's again")
        by_alice = await alice.send("owned", "alice's")
        in_hidden = await alice.send("hidden", "hidden")
        dm = (await bob.ok(Event.DM_OPEN, {"user": "carol"}))["room"]["id"]
        in_dm = await carol.send(dm, "dm text")
        delete = Event.MESSAGE_DELETE
        # a member who is neither sender nor owner
        assert await carol.error(delete, {"room": "owned", "id": by_bob["id"]}) == "forbidden"
        assert await bob.error(delete, {"room": "owned", "id": by_alice["id"]}) == "forbidden"
        # a DM has no owner: only its sender (or an operator)
        assert await bob.error(delete, {"room": dm, "id": in_dm["id"]}) == "forbidden"
        # not a member of a private room: it does not exist for them (main's rule)
        assert await bob.error(delete, {"room": "hidden", "id": in_hidden["id"]}) == "not_found"
        # another room's message named through this room is not found, even for its sender
        assert await alice.error(delete, {"room": "owned", "id": in_hidden["id"]}) == "not_found"
        # system messages: nobody, not even the owner
        history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": "owned"}))["messages"]
        system = next(m for m in history if m["kind"] == "system")
        assert await alice.error(delete, {"room": "owned", "id": system["id"]}) == "forbidden"
        # the sender, the room's owner, an operator who is not even a member
        await bob.ok(delete, {"room": "owned", "id": by_bob["id"]})
        await alice.ok(delete, {"room": "owned", "id": by_bob_2["id"]})
        await olga.ok(delete, {"room": "hidden", "id": in_hidden["id"]})
        await olga.ok(delete, {"room": dm, "id": in_dm["id"]})
        await carol.ok(Event.MESSAGE_DELETE, {"room": dm, "id": in_dm["id"]})  # idempotent
        for bad in (
            {"room": "owned"},
            {"room": "owned", "id": -3},
            {"id": by_alice["id"]},
            {"room": "owned", "id": 10**9},
        ):
            code = await alice.error(delete, bad)
            assert code == ("not_found" if bad.get("id") == 10**9 else "bad_request"), bad
    finally:
        for c in (alice, bob, carol, olga):
            await c.disconnect()
