"""Protocol v2, section 16: ``message:search`` over WebSocket and polling.

Word prefixes and quoted phrases, case and diacritics folded, newest first with ``before``
and ``has_more``, only rooms the requester is in now, ``from``, and the index kept in step
with edits, deletes and room closes. Queries full of FTS5 syntax are plain text.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.app import RunningServer
from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import ChatTestClient


async def search(client: ChatTestClient, query: str, **fields: Any) -> dict[str, Any]:
    return await client.ok(Event.MESSAGE_SEARCH, {"query": query, **fields})


async def texts(client: ChatTestClient, query: str, **fields: Any) -> list[str]:
    return [m["text"] for m in (await search(client, query, **fields))["messages"]]


async def test_session_lists_the_search_feature(connect: Connect) -> None:
    alice = await connect("alice")
    assert "search" in alice.session["server"]["features"]


async def test_words_match_prefixes_ignoring_case_and_diacritics(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "Here is my Résumé for the role")
    await alice.send(GENERAL_ROOM, "Naïve CAFÉ owners unite")
    await alice.send(GENERAL_ROOM, "nothing to see")
    assert await texts(alice, "resume") == ["Here is my Résumé for the role"]
    assert await texts(alice, "RÉSU") == ["Here is my Résumé for the role"]
    assert await texts(alice, "cafe naive") == ["Naïve CAFÉ owners unite"]
    assert await texts(alice, "own") == ["Naïve CAFÉ owners unite"]
    # every term must match
    assert await texts(alice, "cafe role") == []
    # a prefix matches the start of a word, not its middle
    assert await texts(alice, "sume") == []


async def test_a_quoted_phrase_matches_those_words_in_sequence(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "the quick brown fox")
    await alice.send(GENERAL_ROOM, "brown and quick")
    assert await texts(alice, '"quick brown"') == ["the quick brown fox"]
    assert await texts(alice, '"brown quick"') == []
    assert sorted(await texts(alice, "quick brown")) == ["brown and quick", "the quick brown fox"]
    # a phrase is exact words; a word term is a prefix
    assert await texts(alice, '"quick bro"') == []
    assert await texts(alice, '"the quick" fo') == ["the quick brown fox"]
    # an unclosed quote runs to the end
    assert await texts(alice, '"brown fox') == ["the quick brown fox"]


async def test_results_are_newest_first_and_page_with_before(connect: Connect) -> None:
    alice = await connect("alice")
    sent = [await alice.send(GENERAL_ROOM, f"report number {i}") for i in range(7)]
    await alice.send(GENERAL_ROOM, "unrelated")
    first = await search(alice, "report", limit=3)
    ids = [m["id"] for m in first["messages"]]
    assert ids == [sent[6]["id"], sent[5]["id"], sent[4]["id"]]
    assert first["has_more"] is True
    second = await search(alice, "report", limit=3, before=ids[-1])
    assert [m["id"] for m in second["messages"]] == [sent[3]["id"], sent[2]["id"], sent[1]["id"]]
    assert second["has_more"] is True
    last = await search(alice, "report", limit=3, before=sent[1]["id"])
    assert [m["id"] for m in last["messages"]] == [sent[0]["id"]]
    assert last["has_more"] is False
    # whole Message objects; the requester's own carry receipts, as in history
    message = last["messages"][0]
    assert message["room"] == GENERAL_ROOM and message["sender"] == "alice"
    assert message["seq"] > 0 and "receipts" in message and message["file"] is None


async def test_only_rooms_the_requester_is_a_member_of_now(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    await alice.send("secret", "the launch code is banana")
    await alice.send(GENERAL_ROOM, "banana bread")
    assert await texts(bob, "banana") == ["banana bread"]
    assert await bob.error(Event.MESSAGE_SEARCH, {"query": "banana", "room": "secret"}) == (
        ErrorCode.NOT_FOUND
    )
    # an unknown room answers the same, so search reveals no private room
    assert await bob.error(Event.MESSAGE_SEARCH, {"query": "banana", "room": "nope"}) == (
        ErrorCode.NOT_FOUND
    )
    assert await texts(alice, "banana", room="secret") == ["the launch code is banana"]
    await alice.ok(Event.ROOM_INVITE, {"room": "secret", "user": "bob"})
    assert sorted(await texts(bob, "banana")) == ["banana bread", "the launch code is banana"]
    # leaving a room takes it out of the search at once
    await bob.ok(Event.ROOM_LEAVE, {"room": "secret"})
    assert await texts(bob, "banana") == ["banana bread"]


async def test_from_limits_the_sender(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.send(GENERAL_ROOM, "deploy today")
    await bob.send(GENERAL_ROOM, "deploy tomorrow")
    assert await texts(alice, "deploy", **{"from": "bob"}) == ["deploy tomorrow"]
    assert await texts(alice, "deploy", **{"from": "ALICE"}) == ["deploy today"]
    assert await texts(alice, "deploy", **{"from": "nobody"}) == []


async def test_edits_deletes_and_system_messages(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")  # "bob joined" is a system message: never found
    assert await texts(alice, "joined") == []
    msg = await alice.send(GENERAL_ROOM, "meeting at noon")
    await alice.ok(Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": msg["id"], "text": "lunch"})
    assert await texts(bob, "meeting") == []
    assert await texts(bob, "lunch") == ["lunch"]
    await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": msg["id"]})
    assert await texts(bob, "lunch") == []


async def test_closing_a_room_drops_its_messages_from_search(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "temp"})
    await alice.send("temp", "ephemeral words")
    assert await texts(alice, "ephemeral") == ["ephemeral words"]
    await alice.ok(Event.ROOM_CLOSE, {"room": "temp"})
    await alice.ok(Event.ROOM_CREATE, {"name": "temp"})  # same id, new room: nothing old
    assert await texts(alice, "ephemeral") == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(a b)",
        "AND",
        "OR x",
        "a:b",
        "body:secret",
        "rk:anything",
        "^start",
        "x AND y",
        "(",
        ")",
        "-x",
        "+",
        "{body}: x",
        '""""',
        "NOT",
        "0\x00",
        "a\x00b",
        '"x\x00',
        "\ud800x",
        "x\udfff y",
        "\x1b[31m",
    ],
)
async def test_fts_syntax_in_a_query_is_plain_text(connect: Connect, query: str) -> None:
    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "AND OR NOT NEAR are words here, a:b too, body secret x y")
    ack = await alice.call(Event.MESSAGE_SEARCH, {"query": query})
    if ack["ok"]:
        assert isinstance(ack["messages"], list) and ack["has_more"] is False
    else:
        assert ack["error"]["code"] == ErrorCode.BAD_REQUEST, ack


async def test_operators_are_matched_as_words(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "NEAR the AND gate")
    await alice.send(GENERAL_ROOM, "gate")
    assert await texts(alice, "AND gate") == ["NEAR the AND gate"]
    assert await texts(alice, "near(") == ["NEAR the AND gate"]
    assert await texts(alice, "rk:") == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"query": ""},
        {"query": "x" * 201},
        {"query": 5},
        {"query": "   "},
        {"query": "*** --- ..."},
        {"query": "ok", "limit": 0},
        {"query": "ok", "limit": 51},
        {"query": "ok", "limit": "5"},
        {"query": "ok", "before": -1},
        {"query": "ok", "before": "9"},
        {"query": "ok", "room": "Not A Room"},
        {"query": "ok", "room": 7},
        {"query": "ok", "from": 7},
        {"query": "ok", "from": ""},
        {"query": "ok", "from": "no spaces allowed"},
        {"query": "ok", "from": "\ud800"},
        {"query": " ".join(["w"] * 17)},
    ],
)
async def test_malformed_searches_are_bad_request(
    connect: Connect, payload: dict[str, Any]
) -> None:
    alice = await connect("alice")
    assert await alice.error(Event.MESSAGE_SEARCH, payload) == ErrorCode.BAD_REQUEST


async def test_a_query_of_200_characters_is_fine(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "alpha")
    assert await texts(alice, "alpha " + "b" * 194) == []
    assert await texts(alice, "alpha" + " " * 195) == ["alpha"]


async def test_image_captions_are_searched(connect: Connect) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    alice = await connect("alice")
    await alice.ok(
        Event.MESSAGE_SEND,
        {
            "room": GENERAL_ROOM,
            "client_id": str(uuid.uuid4()),
            "text": "sunset over the bay",
            "image": {"data": buf.getvalue(), "name": "s.png"},
        },
    )
    found = (await search(alice, "sunset"))["messages"]
    assert [m["kind"] for m in found] == ["image"]


@pytest.mark.sqlite_only
async def test_messages_stored_before_the_upgrade_are_found(
    server_factory: ServerFactory, tmp_path: Any, transport: str
) -> None:
    """The schema step indexes what a version 1 server stored (the v1 fixture data dir)."""
    import shutil
    from pathlib import Path

    source = Path(__file__).parent.parent / "fixtures" / "v1_datadir"
    data_dir = tmp_path / "upgraded"
    shutil.copytree(source, data_dir)
    server = await server_factory(data_dir=data_dir)
    history_client = ChatTestClient(server.url, [transport])
    await history_client.connect({"username": "alice", "password": "fixture password"})
    await history_client.wait_for(Event.SESSION)
    try:
        history = await history_client.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM})
        words = [
            m["text"].split()[0]
            for m in history["messages"]
            if m["kind"] != "system" and m["text"].strip()
        ]
        assert words, "the v1 fixture has text messages"
        for word in words[:3]:
            found = await texts(history_client, word)
            assert any(word in t for t in found), (word, found)
    finally:
        await history_client.disconnect()


async def test_searches_have_a_rate_limit_of_their_own(
    server: RunningServer, connect: Connect
) -> None:
    from server.handlers.search import SEARCH_WINDOW_S, SEARCHES_PER_WINDOW
    from server.http_api import CHAT_KEY
    from server.ratelimit import SlidingWindow

    assert SEARCHES_PER_WINDOW == 30 and SEARCH_WINDOW_S == 10.0
    # the same limiter with a window no test run outlasts, so the count cannot slide away
    server.app[CHAT_KEY].search.limiter = SlidingWindow(SEARCHES_PER_WINDOW, 3600.0)
    alice = await connect("alice")
    for _ in range(SEARCHES_PER_WINDOW):
        await search(alice, "anything")
    assert await alice.error(Event.MESSAGE_SEARCH, {"query": "anything"}) == ErrorCode.RATE_LIMITED
    # sending is a separate budget
    await alice.send(GENERAL_ROOM, "still fine")


async def test_a_search_over_its_time_budget_is_refused_cleanly(
    server: RunningServer, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.http_api import CHAT_KEY
    from server.storage.postgres import PostgresStorage
    from server.storage.postgres import search as pg_search
    from server.storage.sqlite import search as sqlite_search

    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "budget words")
    storage = server.app[CHAT_KEY].storage
    if isinstance(storage, PostgresStorage):
        # statement_timeout counts a wait for a lock: one held on the index outlasts it
        monkeypatch.setattr(pg_search, "SEARCH_BUDGET_MS", 200)
        async with storage.pool.acquire() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE message_search IN ACCESS EXCLUSIVE MODE")
            code = await alice.error(Event.MESSAGE_SEARCH, {"query": "budget"})
    else:
        monkeypatch.setattr(sqlite_search, "SEARCH_BUDGET_S", -1.0)
        monkeypatch.setattr(sqlite_search, "_PROGRESS_STEPS", 1)
        code = await alice.error(Event.MESSAGE_SEARCH, {"query": "budget"})
    assert code == ErrorCode.BAD_REQUEST
    monkeypatch.undo()
    # the search connection is fine afterwards
    assert await texts(alice, "budget") == ["budget words"]


async def test_control_characters_separate_words(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.send(GENERAL_ROOM, "alpha beta")
    assert await texts(alice, "alpha\x00beta") == ["alpha beta"]
    # a lone surrogate is not text: main's edge check refuses it before search sees it
    assert await alice.error(Event.MESSAGE_SEARCH, {"query": "\ud800alp"}) == (
        ErrorCode.BAD_REQUEST
    )
