"""``parley-server admin`` commands: users, export and backup, on both backends.

Each command runs as its own process beside a running server, as an operator runs it.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from server.protocol import GENERAL_ROOM, Event
from tests.conftest import ServerFactory
from tests.server.admin_helpers import (
    NEW_PASSWORD,
    Backend,
    backend_fixture,  # noqa: F401 - the ``backend`` fixture
    refused,
)
from tests.server.helpers import ChatTestClient
from tests.server.v2_helpers import client_for


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def _upload(url: str, client: ChatTestClient, data: bytes, name: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {client.session['token']}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/api/media", params={"name": name}, data=data, headers=headers
        ) as r:
            body = await r.json()
            assert r.status == 201, body
            return dict(body["upload"])


async def test_users_add_list_and_the_new_user_signs_in(
    server_factory: ServerFactory, backend: Backend
) -> None:
    server = await server_factory(**backend.server_overrides)
    out = await backend.ok("users", "add", "carol", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert "Created user carol" in out

    carol = ChatTestClient(server.url, ["websocket"])
    await carol.connect({"username": "carol", "password": NEW_PASSWORD})
    await carol.wait_for(Event.SESSION)
    rooms = {r["id"]: r for r in (await carol.ok(Event.ROOMS_LIST))["rooms"]}
    assert rooms[GENERAL_ROOM]["joined"] is True  # she joined general, as registration does
    sent = await carol.send(GENERAL_ROOM, "hello from carol")  # the running server knows it

    users = json.loads(await backend.ok("users", "list", "--json"))
    (row,) = [u for u in users if u["name"] == "carol"]
    assert row["state"] == "active" and row["disabled"] is False and row["sessions"] == 1
    assert row["created"] and row["last_seen"]
    assert row["last_seen"] >= row["created"]
    assert sent["ts"] // 1000 <= _epoch(row["last_seen"])
    table = await backend.ok("users", "list")
    assert table.splitlines()[0].split() == ["NAME", "STATE", "CREATED", "LAST", "SEEN", "SESSIONS"]
    await carol.disconnect()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def test_refusals_say_why_and_exit_1(server_factory: ServerFactory, backend: Backend) -> None:
    server = await server_factory(**backend.server_overrides)
    await (await client_for(server, "websocket", "alice")).disconnect()

    taken = await backend.admin("users", "add", "Alice", "--password-stdin", stdin=NEW_PASSWORD)
    assert taken.rc == 1 and "taken" in taken.err
    lookalike = await backend.admin("users", "add", "a1ice", "--password-stdin", stdin=NEW_PASSWORD)
    assert lookalike.rc == 1 and "too much like" in lookalike.err
    short = await backend.admin("users", "add", "dave", "--password-stdin", stdin="short\n")
    assert short.rc == 1 and "8 to 256" in short.err
    no_tty = await backend.admin("users", "add", "dave", stdin="")
    assert no_tty.rc == 1 and "--password-stdin" in no_tty.err
    for args in (("users", "disable", "nobody"), ("tokens", "revoke", "nobody")):
        missing = await backend.admin(*args)
        assert missing.rc == 1 and "There is no user nobody." in missing.err
    unconfirmed = await backend.admin("users", "delete", "alice", stdin="y\n")
    assert unconfirmed.rc == 1 and "--yes" in unconfirmed.err
    # a password is never an argument: the process list would show it
    argv = await backend.admin("users", "add", "dave", "--password", NEW_PASSWORD)
    assert argv.rc == 2
    assert (await backend.admin("export", "no-such-room")).rc == 1
    assert "Disabled alice" in await backend.ok("users", "disable", "alice")
    assert "disabled already" in await backend.ok("users", "disable", "alice")


async def test_no_database_is_a_clear_refusal(tmp_path: Path) -> None:
    empty = Backend("sqlite", tmp_path / "nothing-here")
    result = await empty.admin("users", "list")
    assert result.rc == 1 and "There is no Parley database" in result.err
    assert not (tmp_path / "nothing-here").exists()
    down = Backend("postgres", tmp_path, database_url="postgresql://postgres@127.0.0.1:1/parley")
    result = await down.admin("users", "list")
    assert result.rc == 1 and "cannot use the PostgreSQL database" in result.err
    assert "Traceback" not in result.err


async def test_export_round_trips_the_room_with_edits_deletes_and_reactions(
    server_factory: ServerFactory, backend: Backend, tmp_path: Path
) -> None:
    server = await server_factory(**backend.server_overrides)
    alice = await client_for(server, "websocket", "alice")
    bob = await client_for(server, "websocket", "bob")
    first = await alice.send(GENERAL_ROOM, "first, soon edited")
    await alice.ok(Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": first["id"], "text": "edited"})
    doomed = await bob.send(GENERAL_ROOM, "a mistake")
    await bob.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": doomed["id"]})
    await bob.ok(
        Event.MESSAGE_SEND,
        {
            "room": GENERAL_ROOM,
            "text": "reply to @alice",
            "client_id": "r1",
            "reply_to": first["id"],
        },
    )
    for who, emoji in ((bob, "👍"), (alice, "👍"), (bob, "🎉")):
        payload = {"room": GENERAL_ROOM, "id": first["id"], "emoji": emoji, "on": True}
        await who.ok(Event.REACTION_SET, payload)
    for i in range(3):
        await alice.send(GENERAL_ROOM, f"line {i} — ünïcode\nand a newline")

    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM, "limit": 100}))[
        "messages"
    ]
    exported = tmp_path / "general.jsonl"
    result = await backend.admin("export", GENERAL_ROOM, "--output", str(exported))
    assert result.rc == 0 and f"Exported {len(history)} message(s)" in result.err
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [_without_receipts(m) for m in history]
    by_id = {m["id"]: m for m in map(json.loads, lines)}
    assert by_id[first["id"]]["text"] == "edited" and by_id[first["id"]]["edited_ts"]
    assert by_id[first["id"]]["reactions"] == [
        {"emoji": "👍", "users": ["bob", "alice"]},
        {"emoji": "🎉", "users": ["bob"]},
    ]
    assert by_id[doomed["id"]]["deleted"] is True and by_id[doomed["id"]]["text"] == ""
    assert [m["id"] for m in by_id.values()] == sorted(by_id)
    assert exported.stat().st_mode & 0o077 == 0

    # stdout gives the same lines
    assert (await backend.ok("export", GENERAL_ROOM)).splitlines() == lines
    await alice.disconnect()
    await bob.disconnect()


async def _all_messages(client: ChatTestClient) -> list[tuple[int, str, Any]]:
    """(id, text, file) of every message of general, oldest first."""
    out: list[tuple[int, str, Any]] = []
    after = 0
    while True:
        page = await client.ok(
            Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM, "after": after, "limit": 100}
        )
        out += [(m["id"], m["text"], m["file"]) for m in page["messages"]]
        if not page["has_more"]:
            return out
        after = out[-1][0]


def _without_receipts(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "receipts"}


async def test_backup_of_a_running_server_is_a_data_dir_with_every_message_and_file(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "live"
    server = await server_factory(data_dir=data_dir, database_url=None, rate_limit_messages=0)
    alice = await client_for(server, "websocket", "alice")
    picture = _png(64, 48)
    image = await alice.ok(
        Event.MESSAGE_SEND,
        {"room": GENERAL_ROOM, "client_id": "img", "image": {"data": picture, "name": "p.png"}},
    )
    notes = b"the notes\n" * 500
    up = await _upload(server.url, alice, notes, "notes.txt")
    await alice.ok(
        Event.MESSAGE_SEND,
        {"room": GENERAL_ROOM, "client_id": "file", "file": {"upload": up["id"]}},
    )
    for i in range(50):
        await alice.send(GENERAL_ROOM, f"message {i}")
    before = await _all_messages(alice)

    # bob keeps sending while the backup runs: the copy is one consistent snapshot
    bob = await client_for(server, "websocket", "bob")
    backup_done = asyncio.Event()

    async def keep_sending() -> int:
        sent = 0
        while not backup_done.is_set():
            await bob.send(GENERAL_ROOM, f"during the backup {sent}")
            sent += 1
        return sent

    sender = asyncio.create_task(keep_sending())
    dest = tmp_path / "backup"
    try:
        out = await Backend("sqlite", data_dir).ok("backup", str(dest))
    finally:
        backup_done.set()
    assert await sender > 0
    assert "and 1 file(s)" in out
    with sqlite3.connect(dest / "parley.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert f"Backed up {copied} message(s)" in out
    assert (dest / "files" / up["id"]).read_bytes() == notes
    assert (dest / "parley.sqlite3").stat().st_mode & 0o077 == 0
    after = await _all_messages(alice)
    await alice.disconnect()
    await bob.disconnect()

    # a server started on the backup has every message sent before it, the image and the
    # file, and a prefix of the ones sent during it, each exactly as the live server has it
    restored = await server_factory(data_dir=dest, database_url=None)
    again = ChatTestClient(restored.url, ["websocket"])
    await again.connect({"token": alice.session["token"]})
    await again.wait_for(Event.SESSION)
    got = await _all_messages(again)
    assert got[: len(before)] == before
    assert got == after[: len(got)]
    media = await again.ok(Event.MEDIA_GET, {"id": image["message"]["image"]["id"]})
    assert media["data"] == picture
    media = await again.ok(Event.MEDIA_GET, {"id": up["id"]})
    assert media["data"] == notes

    refusal = await Backend("sqlite", data_dir).admin("backup", str(dest))
    assert refusal.rc == 1 and "new or empty directory" in refusal.err
    await again.disconnect()


async def test_backup_on_postgres_refuses_with_the_pg_dump_recipe(tmp_path: Path) -> None:
    cluster = Backend("postgres", tmp_path, database_url="postgresql://db.example/parley")
    result = await cluster.admin("backup", str(tmp_path / "dest"))
    assert result.rc == 1 and "pg_dump" in result.err and "pg_restore" in result.err
    assert not (tmp_path / "dest").exists()


async def test_a_disabled_user_cannot_sign_in_on_a_restarted_server(
    server_factory: ServerFactory, backend: Backend
) -> None:
    """The state is stored, not held by the server that saw the command."""
    server = await server_factory(**backend.server_overrides)
    await (await client_for(server, "websocket", "alice")).disconnect()
    await backend.ok("users", "disable", "alice")
    await server.stop()
    server = await server_factory(**backend.server_overrides)
    error = await refused(server.url, {"username": "alice", "password": "correct horse battery"})
    assert "disabled" in error["message"]
