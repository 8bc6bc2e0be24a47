"""``parley-server migrate``: a single node's data dir into PostgreSQL, then a PostgreSQL
server on it shows the same history, finds the same messages and serves the same bytes.

The source is the committed version 1 data dir (users, rooms of every kind, a DM, text,
image and system messages, read positions) upgraded and extended through a real SQLite
server with protocol v2 data: edits, a delete, reactions, a reply, mentions, an inline
image, files (one sent, one deleted, one never used) and an image sent as a file.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from PIL import Image

from server.app import RunningServer
from server.migrate import MigrateError, migrate
from server.protocol import GENERAL_ROOM, Event
from tests.conftest import ServerFactory
from tests.server.helpers import ChatTestClient
from tests.support.services import throwaway_database

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "v1_datadir"
PASSWORD = "fixture password"
DM = "dm:alice:bob"


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with throwaway_database() as url:
        yield url


async def login(server: RunningServer, name: str) -> ChatTestClient:
    client = ChatTestClient(server.url, ["websocket"])
    await client.connect({"username": name, "password": PASSWORD})
    await client.wait_for(Event.SESSION)
    return client


async def upload(server: RunningServer, client: ChatTestClient, data: bytes, name: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/media",
            params={"name": name},
            data=data,
            headers={"Authorization": f"Bearer {client.session['token']}"},
        ) as resp,
    ):
        body = await resp.json()
        assert resp.status == 201, body
        return str(body["upload"]["id"])


async def download(server: RunningServer, client: ChatTestClient, media_id: str) -> bytes:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{server.url}/media/{media_id}",
            headers={"Authorization": f"Bearer {client.session['token']}"},
        ) as resp,
    ):
        assert resp.status == 200, media_id
        return await resp.read()


async def send(client: ChatTestClient, room: str, **fields: Any) -> dict[str, Any]:
    payload = {"room": room, "client_id": str(uuid.uuid4()), **fields}
    return dict((await client.ok(Event.MESSAGE_SEND, payload))["message"])


async def make_v2_data(server: RunningServer) -> dict[str, bytes]:
    """Protocol v2 data through the real server; the media bytes by id."""
    alice = await login(server, "alice")
    bob = await login(server, "bob")
    try:
        media: dict[str, bytes] = {}
        first = await send(alice, GENERAL_ROOM, text="migration plans with @bob")
        reply = await send(bob, GENERAL_ROOM, text="sounds good, zebra", reply_to=first["id"])
        base = {"room": GENERAL_ROOM, "id": first["id"]}
        await alice.ok(Event.MESSAGE_EDIT, {**base, "text": "migration plans, edited, @bob"})
        for who, emoji in ((bob, "👍"), (alice, "🎉"), (alice, "👍")):
            await who.ok(Event.REACTION_SET, {**base, "emoji": emoji, "on": True})
        gone = await send(bob, GENERAL_ROOM, text="an oops to delete")
        await bob.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": gone["id"]})
        await send(alice, GENERAL_ROOM, text="@room all hands", reply_to=reply["id"])
        image = png(64, 48)
        inline = await send(
            alice, GENERAL_ROOM, text="inline", image={"data": image, "name": "i.png"}
        )
        media[inline["image"]["id"]] = image
        data = os.urandom(700_000)
        file_id = await upload(server, alice, data, "report.bin")
        await send(alice, GENERAL_ROOM, text="the report", file={"upload": file_id})
        media[file_id] = data
        dm_data = b"just for bob\n" * 50
        dm_file = await upload(server, alice, dm_data, "note.txt")
        await send(alice, DM, file={"upload": dm_file})
        media[dm_file] = dm_data
        as_image = png(300, 200)
        image_upload = await upload(server, bob, as_image, "photo.png")
        await send(bob, GENERAL_ROOM, file={"upload": image_upload})
        media[image_upload] = as_image
        doomed = await upload(server, bob, b"to be deleted", "doomed.txt")
        doomed_msg = await send(bob, GENERAL_ROOM, file={"upload": doomed})
        await bob.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": doomed_msg["id"]})
        await upload(server, bob, b"never sent", "unused.txt")  # an unused upload is copied too
        await send(bob, DM, text="dm with a zebra")
        return media
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def snapshot(server: RunningServer, name: str) -> dict[str, Any]:
    """What a client sees: rooms, the history of each, and search answers."""
    client = await login(server, name)
    try:
        rooms = (await client.ok(Event.ROOMS_LIST))["rooms"]
        seen: dict[str, Any] = {"rooms": rooms, "history": {}, "search": {}}
        for room in rooms:
            if room.get("member", True):
                history = await client.call(Event.MESSAGE_HISTORY, {"room": room["id"]})
                seen["history"][room["id"]] = history
        for query in ("zebra", "migra", "general message 2", "secret"):
            seen["search"][query] = await client.call(Event.MESSAGE_SEARCH, {"query": query})
        return seen
    finally:
        await client.disconnect()


async def test_a_data_dir_migrates_into_postgresql_and_a_server_serves_it(
    server_factory: ServerFactory, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "single"
    shutil.copytree(FIXTURE, data_dir)
    # the single node is SQLite whatever PARLEY_TEST_BACKEND says
    single = await server_factory(data_dir=data_dir, database_url=None)
    media = await make_v2_data(single)
    media["fixtureimage0001"] = b""  # the v1 image: compared through media:get below
    before = {name: await snapshot(single, name) for name in ("alice", "bob", "carol")}
    await single.stop()
    # the snapshot holds real answers: history with v2 fields, search hits
    general = before["alice"]["history"][GENERAL_ROOM]["messages"]
    assert any(m["reactions"] for m in general) and any(m["reply_to"] for m in general)
    assert any(m["edited_ts"] for m in general) and any(m["deleted"] for m in general)
    assert any(m["file"] for m in general) and any(m["mentions"] for m in general)
    assert len(before["bob"]["search"]["zebra"]["messages"]) == 2  # general and the DM
    assert before["carol"]["search"]["zebra"]["messages"]  # general only
    assert all(answer["ok"] for answer in before["alice"]["search"].values())

    # small batches, so the copy goes through many of them
    monkeypatch.setattr("server.migrate.BATCH_ROWS", 5)
    monkeypatch.setattr("server.migrate.FILE_BATCH_CHUNKS", 1)
    report = await migrate(f"sqlite:{data_dir}", pg_url)
    assert all(src == dst for _, src, dst in report.tables), report.lines()
    counts = {name: src for name, src, _ in report.tables}
    assert counts["users"] == 3 and counts["reactions"] == 3 and counts["uploads"] == 3
    assert report.files == report.copied_files and report.files[0] == 3

    cluster = await server_factory(data_dir=tmp_path / "node", database_url=pg_url)
    after = {name: await snapshot(cluster, name) for name in ("alice", "bob", "carol")}
    assert after == before
    alice = await login(cluster, "alice")
    try:
        for media_id, data in media.items():
            if data:
                assert await download(cluster, alice, media_id) == data
        got = await alice.ok(Event.MEDIA_GET, {"id": "fixtureimage0001"})
        assert got["data"] == (await _sqlite_image(data_dir, "fixtureimage0001"))
        # the sequences continue past the copied ids
        message = await send(alice, GENERAL_ROOM, text="after the move")
        assert message["id"] > max(
            m["id"] for m in before["alice"]["history"][GENERAL_ROOM]["messages"]
        )
    finally:
        await alice.disconnect()

    # a second run refuses the now non-empty target, and --replace redoes it
    with pytest.raises(MigrateError, match="not empty"):
        await migrate(f"sqlite:{data_dir}", pg_url)


async def _sqlite_image(data_dir: Path, image_id: str) -> bytes:
    import sqlite3

    conn = sqlite3.connect(data_dir / "parley.sqlite3")
    try:
        return bytes(
            conn.execute("SELECT data FROM images WHERE id = ?", (image_id,)).fetchone()[0]
        )
    finally:
        conn.close()


async def test_replace_empties_a_used_target_and_the_cli_says_what_it_did(
    pg_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "v1"
    shutil.copytree(FIXTURE, data_dir)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "server",
        "migrate",
        "--from",
        f"sqlite:{data_dir}",
        "--to",
        pg_url,
    ]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "migrated and verified" in first.stdout
    rows = {line.split()[0]: line.split()[1:] for line in first.stdout.splitlines()[1:-1]}
    assert rows["users"] == ["3", "3"] and rows["images"] == ["1", "1"]
    assert rows["messages"][0] == rows["messages"][1] and int(rows["messages"][0]) > 30
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0 and "not empty" in again.stderr
    replaced = subprocess.run(
        [*cmd, "--replace"], env=env, capture_output=True, text=True, timeout=300
    )
    assert replaced.returncode == 0, replaced.stderr
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM users") == 3
    finally:
        await conn.close()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "migrate",
            "--from",
            f"sqlite:{tmp_path}/none",
            "--to",
            pg_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stderr.startswith(
        "parley-server migrate: no SQLite database"
    )
