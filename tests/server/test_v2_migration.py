"""Upgrading a version 1 data dir in place (protocol v2, section 10).

``tests/fixtures/v1_datadir`` was written by the v1 server (commit aed805b, see
``tests/fixtures/make_v1_datadir.py``). A v2 server started on a copy must keep every
message, number each room's messages 1..n in id order, and answer ``message:changes``
from 0 with the whole history.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from server.protocol import GENERAL_ROOM, Event
from server.storage.sqlite import SQLiteStorage, schema_version
from server.storage.sqlite.schema import execute_script
from tests.conftest import ServerFactory
from tests.server.helpers import ChatTestClient

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1_datadir" / "parley.sqlite3"
FIXTURE_PASSWORD = "fixture password"


@pytest.fixture
def v1_dir(tmp_path: Path) -> Path:
    data = tmp_path / "upgraded"
    data.mkdir()
    shutil.copy(FIXTURE, data / "parley.sqlite3")
    return data


def v1_messages() -> dict[str, list[tuple[int, str]]]:
    """(id, text) per room, ascending, read straight from the untouched fixture."""
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        out: dict[str, list[tuple[int, str]]] = {}
        for room, mid, text in conn.execute("SELECT room_id, id, text FROM messages ORDER BY id"):
            out.setdefault(room, []).append((mid, text))
        return out
    finally:
        conn.close()


@pytest.mark.sqlite_only
async def test_a_v1_data_dir_upgrades_in_place_and_keeps_every_message(
    server_factory: ServerFactory, v1_dir: Path, transport: str
) -> None:
    before = v1_messages()
    assert sum(len(v) for v in before.values()) == 43
    server = await server_factory(data_dir=v1_dir)
    alice = ChatTestClient(server.url, [transport])
    bob = ChatTestClient(server.url, [transport])
    try:
        await alice.connect({"username": "alice", "password": FIXTURE_PASSWORD})
        await bob.connect({"username": "bob", "password": FIXTURE_PASSWORD})
        await alice.wait_for(Event.SESSION)
        await bob.wait_for(Event.SESSION)
        for room in ("general", "secret", "dm:alice:bob"):
            ack = await alice.ok(Event.MESSAGE_CHANGES, {"room": room, "since": 0})
            assert ack["has_more"] is False
            got = [(m["id"], m["text"]) for m in ack["messages"]]
            assert got == before[room], room
            assert [m["seq"] for m in ack["messages"]] == list(range(1, len(got) + 1))
            assert ack["seq"] == len(got)
            assert all(not m["deleted"] and m["reactions"] == [] for m in ack["messages"])
        rooms = {r["id"]: r for r in (await bob.ok(Event.ROOMS_LIST))["rooms"]}
        assert rooms["general"]["seq"] == len(before["general"])
        assert rooms["lobby"]["seq"] == 1 and rooms["lobby"]["joined"] is True  # bob's room
        # bob read general up to its 11th message; the 20 texts after it not his own count
        general_ids = [mid for mid, _ in before["general"]]
        assert rooms["general"]["read_up_to"] == general_ids[10]
        unread = await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM, "limit": 100})
        later = [m for m in unread["messages"] if m["id"] > general_ids[10]]
        expected = sum(1 for m in later if m["sender"] not in (None, "bob"))
        assert rooms["general"]["unread"] == expected and expected > 0
        # the image and its bytes
        image = next(m for m in unread["messages"] if m["kind"] == "image")
        media = await bob.ok(Event.MEDIA_GET, {"id": image["image"]["id"]})
        assert media["mime"] == "image/png" and media["data"][:8] == b"\x89PNG\r\n\x1a\n"
        # the old idempotency keys still hold, and new changes continue the sequence
        again = await alice.ok(
            Event.MESSAGE_SEND, {"room": GENERAL_ROOM, "client_id": "g-0", "text": "x"}
        )
        assert again["message"]["id"] == general_ids[3]  # after the three joins
        new = await alice.send(GENERAL_ROOM, f"after the upgrade {uuid.uuid4()}")
        assert new["seq"] == len(before["general"]) + 1 and new["id"] > max(general_ids)
        edited = await bob.ok(
            Event.MESSAGE_EDIT,
            {"room": "dm:alice:bob", "id": before["dm:alice:bob"][0][0], "text": "edited"},
        )
        assert edited["message"]["seq"] == len(before["dm:alice:bob"]) + 1
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_the_upgrade_is_recorded_and_runs_once(v1_dir: Path) -> None:
    path = v1_dir / "parley.sqlite3"
    store = SQLiteStorage(path)
    await store.open()
    first = await store.changes(GENERAL_ROOM, 0, 100)
    await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version() >= 2
        (count,) = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert count == 43
    finally:
        conn.close()
    store = SQLiteStorage(path)
    await store.open()
    try:
        second = await store.changes(GENERAL_ROOM, 0, 100)
    finally:
        await store.close()
    assert [(m.id, m.seq) for m in second.messages] == [(m.id, m.seq) for m in first.messages]


async def test_a_database_newer_than_the_server_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "parley.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={schema_version() + 1}")
    conn.close()
    store = SQLiteStorage(path)
    with pytest.raises(RuntimeError, match="newer than this server"):
        await store.open()
    await store.close()


def test_execute_script_keeps_a_trigger_body_whole() -> None:
    """Later steps (FTS triggers, say) have ``;`` inside BEGIN ... END."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("BEGIN")
        execute_script(
            conn,
            """
            CREATE TABLE a (x INTEGER);
            -- a comment line
            CREATE TABLE log (x INTEGER);
            CREATE TRIGGER a_log AFTER INSERT ON a BEGIN
                INSERT INTO log (x) VALUES (new.x);
                INSERT INTO log (x) VALUES (new.x * 10);
            END;
            INSERT INTO a (x) VALUES (4);
            """,
        )
        conn.execute("COMMIT")
        assert [r[0] for r in conn.execute("SELECT x FROM log ORDER BY x")] == [4, 40]
    finally:
        conn.close()


def schema_of(path: Path) -> tuple[int, list[tuple[str, str, str]], dict[str, list[str]]]:
    """(user_version, every table/index/trigger with its SQL, each table's columns)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        objects = [
            (kind, name, " ".join((sql or "").split()))
            for kind, name, sql in conn.execute(
                "SELECT type, name, sql FROM sqlite_master"
                " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            )
        ]
        columns = {
            name: [row[1] for row in conn.execute(f"PRAGMA table_info('{name}')")]
            for kind, name, _ in objects
            if kind == "table"
        }
        return version, objects, columns
    finally:
        conn.close()


async def test_an_upgraded_v1_dir_and_a_fresh_one_end_at_the_same_schema(
    v1_dir: Path, tmp_path: Path
) -> None:
    """v2-core's steps, the search step and main's users.skeleton, whichever way one came."""
    fresh = tmp_path / "fresh.sqlite3"
    for path in (v1_dir / "parley.sqlite3", fresh):
        store = SQLiteStorage(path)
        await store.open()
        await store.close()
    upgraded_schema = schema_of(v1_dir / "parley.sqlite3")
    fresh_schema = schema_of(fresh)
    assert upgraded_schema[0] == fresh_schema[0] == schema_version()
    assert {o[:2] for o in upgraded_schema[1]} == {o[:2] for o in fresh_schema[1]}
    assert upgraded_schema[2] == fresh_schema[2]
    names = {name for _, name, _ in fresh_schema[1]}
    assert {"message_search", "uploads", "users_by_skeleton"} <= names
    assert "skeleton" in fresh_schema[2]["users"]
