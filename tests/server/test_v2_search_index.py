"""The search index never disagrees with the messages: a model check on the real storage.

Hypothesis drives random sends (text, system, captions), edits, deletes and room closes
through ``SQLiteStorage``; after them every search (word prefixes, phrases, room and sender
filters) must answer exactly what a brute-force scan of the stored messages answers. The
index is kept by the insert and by SQLite triggers, so this proves they cover every write path.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.handlers.search import parse_query
from server.storage.base import NO_MENTIONS, MessageRecord, NewMessage
from server.storage.sqlite import SQLiteStorage

WORDS = ["alpha", "alps", "Álvaro", "beta", "bêta", "gamma", "gam", "delta", "über", "uber"]
ROOMS = ["r1", "r2", "r3"]
_counter = itertools.count()


def fold(text: str) -> str:
    return "".join(
        ch
        for ch in unicodedata.normalize("NFD", text.casefold())
        if unicodedata.category(ch) != "Mn"
    )


def words_of(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", fold(text))


def brute_force(messages: list[MessageRecord], query: str) -> list[int]:
    terms = parse_query(query)
    found = []
    for m in messages:
        if m.kind == "system" or m.deleted or not m.text:
            continue
        words = words_of(m.text)
        ok = True
        for term in terms:
            tokens = words_of(term.text)
            if term.phrase:
                n = len(tokens)
                ok = any(words[i : i + n] == tokens for i in range(len(words) - n + 1))
            else:
                n = len(tokens)
                ok = any(
                    words[i : i + n - 1] == tokens[:-1] and words[i + n - 1].startswith(tokens[-1])
                    for i in range(len(words) - n + 1)
                )
            if not ok:
                break
        if ok:
            found.append(m.id)
    return sorted(found, reverse=True)


texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.sampled_from(ROOMS), st.integers(0, 1), texts),
        st.tuples(st.just("system"), st.sampled_from(ROOMS), st.just(0), texts),
        st.tuples(st.just("edit"), st.integers(0, 30), st.just(0), texts),
        st.tuples(st.just("delete"), st.integers(0, 30), st.just(0), st.just("")),
        st.tuples(st.just("close"), st.sampled_from(ROOMS[1:]), st.just(0), st.just("")),
    ),
    min_size=1,
    max_size=25,
)
queries = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join),
    st.sampled_from(WORDS).map(lambda w: w[: max(1, len(w) // 2)]),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=2).map(
        lambda ws: '"' + " ".join(ws) + '"'
    ),
)


async def scenario(ops: list[tuple[str, Any, int, str]], probes: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        storage = SQLiteStorage(Path(tmp) / "parley.sqlite3")
        await storage.open()
        try:
            users = [await storage.create_user(f"u{i}", "x", 0) for i in range(2)]
            ids = [u.id for u in users if u is not None]
            for room in ROOMS:
                await storage.create_room(room, "public", "", ids[0], ids)
            sent: list[tuple[str, int]] = []
            for op, target, who, text in ops:
                if op in ("send", "system"):
                    if await storage.get_room(target) is None:
                        await storage.create_room(target, "public", "", ids[0], ids)
                    record, _ = await storage.insert_message(
                        NewMessage(
                            room=target,
                            sender_id=None if op == "system" else ids[who],
                            ts=0,
                            kind="system" if op == "system" else "text",
                            text=text,
                            client_id=None if op == "system" else f"c{next(_counter)}",
                            system_event="joined" if op == "system" else None,
                            system_user="u0" if op == "system" else None,
                        )
                    )
                    sent.append((record.room, record.id))
                elif op in ("edit", "delete") and sent:
                    room, mid = sent[target % len(sent)]
                    msg = await storage.get_message(room, mid)
                    if msg is None or msg.sender_id is None:
                        continue
                    if op == "edit":
                        await storage.edit_message(room, mid, msg.sender_id, text, NO_MENTIONS, 1)
                    else:
                        await storage.delete_message(room, mid, msg.sender_id, False)
                elif op == "close":
                    await storage.delete_room(target)
            everything: list[MessageRecord] = []
            for room in ROOMS:
                if await storage.get_room(room) is not None:
                    page, _ = await storage.history(room, None, None, 10_000)
                    everything += page
            for query in probes:
                terms = parse_query(query)
                for rooms in (ROOMS, ROOMS[:1]):
                    for sender in (None, ids[1]):
                        got, more = await storage.search_messages(terms, rooms, sender, None, 50)
                        expected = brute_force(
                            [
                                m
                                for m in everything
                                if m.room in rooms and (sender is None or m.sender_id == sender)
                            ],
                            query,
                        )
                        assert [m.id for m in got] == expected[:50], (query, rooms, sender)
                        assert more == (len(expected) > 50)
        finally:
            await storage.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=operations, probes=st.lists(queries, min_size=1, max_size=4))
def test_search_answers_what_a_scan_of_the_messages_answers(
    ops: list[tuple[str, Any, int, str]], probes: list[str]
) -> None:
    asyncio.run(scenario(ops, probes))
