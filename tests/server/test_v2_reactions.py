"""Protocol v2, section 13: ``reaction:set`` over WebSocket and polling, and the emoji rules."""

from __future__ import annotations

import pytest

from server.errors import ProtocolError
from server.handlers.relations import check_emoji
from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.v2_helpers import client_for


async def test_reactions_keep_first_use_order_and_users_in_order(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    carol = await connect("carol")
    msg = await alice.send(GENERAL_ROOM, "vote")

    async def react(who, emoji: str, on: bool = True) -> dict:  # type: ignore[no-untyped-def]
        payload = {"room": GENERAL_ROOM, "id": msg["id"], "emoji": emoji, "on": on}
        return (await who.ok(Event.REACTION_SET, payload))["message"]

    await react(bob, "👍")
    await react(carol, "🎉")
    await react(alice, "👍")
    last = await react(carol, "👍")
    assert last["reactions"] == [
        {"emoji": "👍", "users": ["bob", "alice", "carol"]},
        {"emoji": "🎉", "users": ["carol"]},
    ]
    # setting a state already held changes nothing: same seq, no broadcast
    same = await react(bob, "👍")
    assert same["seq"] == last["seq"] and same["reactions"] == last["reactions"]
    off = await react(bob, "👍", on=False)
    assert off["reactions"][0] == {"emoji": "👍", "users": ["alice", "carol"]}
    again = await react(bob, "👍", on=False)
    assert again["seq"] == off["seq"]
    update = await alice.wait_for(
        Event.MESSAGE_UPDATED, lambda u: u["message"]["seq"] == off["seq"]
    )
    assert update["message"]["reactions"] == off["reactions"]
    # the reactor's own ack carries no receipts (not their message); the sender's would
    assert "receipts" not in off
    history = (await carol.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    assert next(m for m in history if m["id"] == msg["id"])["reactions"] == off["reactions"]
    updates = [u for u in alice.received(Event.MESSAGE_UPDATED) if u["message"]["id"] == msg["id"]]
    assert [u["message"]["seq"] for u in updates] == sorted({u["message"]["seq"] for u in updates})


async def test_a_twenty_first_emoji_is_refused(
    server_factory: ServerFactory, transport: str
) -> None:
    server = await server_factory(rate_limit_messages=0)
    alice = await client_for(server, transport, "alice")
    bob = await client_for(server, transport, "bob")
    try:
        msg = await alice.send(GENERAL_ROOM, "many")
        emoji = [chr(0x1F600 + i) for i in range(21)]
        payload = {"room": GENERAL_ROOM, "id": msg["id"], "on": True}
        for e in emoji[:20]:
            await alice.ok(Event.REACTION_SET, {**payload, "emoji": e})
        assert await bob.error(Event.REACTION_SET, {**payload, "emoji": emoji[20]}) == (
            ErrorCode.BAD_REQUEST
        )
        # one of the twenty is still fine for another user
        ack = await bob.ok(Event.REACTION_SET, {**payload, "emoji": emoji[3]})
        assert len(ack["message"]["reactions"]) == 20
        assert ack["message"]["reactions"][3]["users"] == ["alice", "bob"]
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_changes_share_the_message_rate_limit(
    server_factory: ServerFactory, transport: str
) -> None:
    server = await server_factory(rate_limit_messages=4, rate_limit_window_s=600)
    alice = await client_for(server, transport, "alice")
    try:
        msg = await alice.send(GENERAL_ROOM, "one")  # 1
        base = {"room": GENERAL_ROOM, "id": msg["id"]}
        await alice.ok(Event.MESSAGE_EDIT, {**base, "text": "two"})  # 2
        await alice.ok(Event.REACTION_SET, {**base, "emoji": "👍", "on": True})  # 3
        await alice.ok(Event.MESSAGE_DELETE, base)  # 4
        limited = ErrorCode.RATE_LIMITED
        assert await alice.error(Event.REACTION_SET, {**base, "emoji": "x", "on": True}) == limited
        assert await alice.error(Event.MESSAGE_EDIT, {**base, "text": "three"}) == limited
        assert await alice.error(Event.MESSAGE_DELETE, base) == limited
        payload = {"room": GENERAL_ROOM, "client_id": "late", "text": "late"}
        assert await alice.error(Event.MESSAGE_SEND, payload) == limited
        # reads are not limited, and the connection stays
        await alice.ok(Event.MESSAGE_CHANGES, {"room": GENERAL_ROOM, "since": 0})
        assert alice.sio.connected
    finally:
        await alice.disconnect()


async def test_reaction_refusals_have_the_documented_codes(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "mine", "private": True})
    msg = await alice.send(GENERAL_ROOM, "target")
    hidden = await alice.send("mine", "hidden")
    deleted = await alice.send(GENERAL_ROOM, "gone")
    await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": deleted["id"]})
    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}))["messages"]
    system = next(m for m in history if m["kind"] == "system")
    g = GENERAL_ROOM
    ok = {"room": g, "id": msg["id"], "emoji": "👍", "on": True}
    cases = [
        ({**ok, "id": system["id"]}, ErrorCode.BAD_REQUEST),
        ({**ok, "id": deleted["id"]}, ErrorCode.CONFLICT),
        ({**ok, "id": 10**9}, ErrorCode.NOT_FOUND),
        ({**ok, "id": hidden["id"]}, ErrorCode.NOT_FOUND),
        ({**ok, "room": "mine", "id": hidden["id"]}, ErrorCode.NOT_FOUND),
        ({**ok, "emoji": ""}, ErrorCode.BAD_REQUEST),
        ({**ok, "emoji": "a b"}, ErrorCode.BAD_REQUEST),
        ({**ok, "emoji": "x\n"}, ErrorCode.BAD_REQUEST),
        ({**ok, "emoji": "\x00"}, ErrorCode.BAD_REQUEST),
        ({**ok, "emoji": "1234567890abcdefg"}, ErrorCode.BAD_REQUEST),
        ({**ok, "emoji": 7}, ErrorCode.BAD_REQUEST),
        ({**ok, "on": "yes"}, ErrorCode.BAD_REQUEST),
        ({k: v for k, v in ok.items() if k != "on"}, ErrorCode.BAD_REQUEST),
        ({k: v for k, v in ok.items() if k != "emoji"}, ErrorCode.BAD_REQUEST),
    ]
    for payload, code in cases:
        assert await bob.error(Event.REACTION_SET, payload) == code, payload
    assert bob.sio.connected
    assert (await bob.ok(Event.REACTION_SET, ok))["message"]["reactions"][0]["users"] == ["bob"]


@pytest.mark.parametrize(
    "emoji",
    [
        "👍",
        "👨‍👩‍👧‍👦",
        "🇫🇷",
        "❤️",
        "+1",
        ":party:",
        "a" * 16,
        "👍🏽",
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    ],
)
def test_emoji_that_are_accepted(emoji: str) -> None:
    assert check_emoji(emoji) == emoji


@pytest.mark.parametrize(
    "emoji",
    [
        "",
        " ",
        "a b",
        "\t",
        "x\u2028",
        "\x07",
        "\x7f",
        "a" * 17,
        "👨‍👩‍👧‍👦" * 3,
        "\ud83d",
        "\u202eok",
        "a\u2066",
    ],
)
def test_emoji_that_are_refused(emoji: str) -> None:
    with pytest.raises(ProtocolError) as err:
        check_emoji(emoji)
    assert err.value.code == ErrorCode.BAD_REQUEST


def test_sixteen_four_byte_code_points_are_at_both_limits() -> None:
    # 16 code points of 4 bytes each are exactly 64 bytes of UTF-8
    assert check_emoji("\U0001f600" * 16)
