"""Files through real PostgreSQL-backed servers (PROTOCOL.md section 17, issue 12).

``POST /api/media`` streams into ``upload_chunks``; ``GET /media/{id}`` streams them back
whole or by ``Range``; two servers on one database serve each other's files; an upload cut
off mid-body leaves nothing served and no chunk; deleting the message removes the chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from PIL import Image

from server.app import RunningServer
from server.http_api import CHAT_KEY
from server.protocol import GENERAL_ROOM, Event
from server.storage.postgres.blobs import CHUNK_BYTES
from tests.conftest import ServerFactory
from tests.server.helpers import ChatTestClient
from tests.server.v2_helpers import client_for
from tests.support.services import throwaway_database

MiB = 1024 * 1024
BIG = 20 * MiB + 12_345  # over 80 chunks, the last one short


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with throwaway_database() as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def pg_server(factory: ServerFactory, url: str, **overrides: Any) -> RunningServer:
    return await factory(database_url=url, **overrides)


def pattern(size: int) -> bytes:
    """Bytes whose every 4 KiB differ, so a misplaced chunk never compares equal."""
    block = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(128))
    out = bytearray()
    i = 0
    while len(out) < size:
        out += i.to_bytes(8, "big") + block[8:]
        i += 1
    return bytes(out[:size])


async def chunks_of(data: bytes, piece: int = 300_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


def auth(client: ChatTestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.session['token']}"}


async def upload(
    http: aiohttp.ClientSession, server: RunningServer, client: ChatTestClient, data: bytes
) -> dict[str, Any]:
    async with http.post(
        f"{server.url}/api/media",
        params={"name": "big.bin"},
        data=chunks_of(data),
        headers={**auth(client), "Content-Length": str(len(data))},
    ) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return dict(body["upload"])


async def send_file(client: ChatTestClient, upload_id: str) -> dict[str, Any]:
    return await client.ok(
        Event.MESSAGE_SEND,
        {"room": GENERAL_ROOM, "client_id": str(uuid.uuid4()), "file": {"upload": upload_id}},
    )


async def chunk_rows(url: str, upload_id: str | None = None) -> int:
    conn = await asyncpg.connect(url)
    try:
        if upload_id is None:
            return int(await conn.fetchval("SELECT count(*) FROM upload_chunks"))
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM upload_chunks WHERE upload_id = $1 AND n >= 0", upload_id
            )
        )
    finally:
        await conn.close()


async def settles(
    probe: Callable[[], Awaitable[int]], done: Callable[[int], bool], tries: int = 1200
) -> bool:
    """Whether ``done(probe())`` comes true: the server works on the upload in its own
    task, so the test looks at the table until it does (a bound, not a time assertion)."""
    for _ in range(tries):
        if done(await probe()):
            return True
        await asyncio.sleep(0.05)
    return False


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, bytes, Any]:
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


async def test_a_big_file_goes_through_postgresql_whole_and_by_range(
    server_factory: ServerFactory, pg_url: str, http: aiohttp.ClientSession
) -> None:
    server = await pg_server(server_factory, pg_url)
    alice = await client_for(server, "websocket", "alice")
    try:
        data = pattern(BIG)
        up = await upload(http, server, alice, data)
        assert up["size"] == BIG
        assert await chunk_rows(pg_url, up["id"]) == -(-BIG // CHUNK_BYTES)
        files = Path(server.app[CHAT_KEY].config.data_dir) / "files"
        assert not files.exists() or [p.name for p in files.iterdir()] in ([], [".tmp"])
        await send_file(alice, up["id"])
        url = f"{server.url}/media/{up['id']}"
        status, body, headers = await get(http, url, auth(alice))
        assert status == 200 and body == data
        assert headers["Content-Length"] == str(BIG)
        assert headers["Content-Disposition"].startswith("attachment;")
        assert headers["X-Content-Type-Options"] == "nosniff"
        middle = (7 * CHUNK_BYTES - 5, 9 * CHUNK_BYTES + 17)  # across chunk edges
        cases = {
            "bytes=0-99": (0, 100),
            f"bytes={middle[0]}-{middle[1] - 1}": middle,
            "bytes=-1000": (BIG - 1000, BIG),
            f"bytes={BIG - 3}-": (BIG - 3, BIG),
        }
        for header, (start, stop) in cases.items():
            status, body, headers = await get(http, url, {**auth(alice), "Range": header})
            assert status == 206, header
            assert body == data[start:stop], header
            assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{BIG}"
        status, _, headers = await get(http, url, {**auth(alice), "Range": f"bytes={BIG}-"})
        assert status == 416 and headers["Content-Range"] == f"bytes */{BIG}"
        # a stale If-Range gets the whole file, the right one the range
        status, body, headers = await get(
            http, url, {**auth(alice), "Range": "bytes=0-9", "If-Range": '"other"'}
        )
        assert status == 200 and len(body) == BIG
        etag = headers["ETag"]
        status, body, _ = await get(
            http, url, {**auth(alice), "Range": "bytes=0-9", "If-Range": etag}
        )
        assert status == 206 and body == data[:10]
    finally:
        await alice.disconnect()


async def test_two_servers_on_one_database_serve_each_others_files(
    server_factory: ServerFactory, pg_url: str, http: aiohttp.ClientSession
) -> None:
    one = await pg_server(server_factory, pg_url)
    two = await pg_server(server_factory, pg_url)
    alice = await client_for(one, "websocket", "alice")
    bob = await client_for(two, "websocket", "bob")
    try:
        data = os.urandom(3 * MiB + 1)
        up = await upload(http, one, alice, data)
        await send_file(alice, up["id"])
        status, body, _ = await get(http, f"{two.url}/media/{up['id']}", auth(bob))
        assert status == 200 and body == data
        status, body, _ = await get(
            http, f"{two.url}/media/{up['id']}", {**auth(bob), "Range": "bytes=1048570-1048580"}
        )
        assert status == 206 and body == data[1048570:1048581]
        # and the other way round
        other = os.urandom(CHUNK_BYTES)
        up2 = await upload(http, two, bob, other)
        await send_file(bob, up2["id"])
        status, body, _ = await get(http, f"{one.url}/media/{up2['id']}", auth(alice))
        assert status == 200 and body == other
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_an_upload_cut_off_mid_body_leaves_nothing(
    server_factory: ServerFactory, pg_url: str
) -> None:
    server = await pg_server(server_factory, pg_url)
    alice = await client_for(server, "websocket", "alice")
    try:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        total = 10 * MiB
        writer.write(
            (
                f"POST /api/media?name=cut.bin HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {alice.session['token']}\r\n"
                f"Content-Length: {total}\r\n\r\n"
            ).encode()
        )
        sent = 0
        piece = os.urandom(CHUNK_BYTES)
        while sent < 3 * MiB:
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
        # the server has written chunks by now: wait until they are in the table
        assert await settles(lambda: chunk_rows(pg_url), lambda rows: rows > 1)
        writer.transport.abort()  # the client vanishes mid-body
        await reader.read()
        # the server aborts the upload: every chunk of it goes, the marker included
        assert await settles(lambda: chunk_rows(pg_url), lambda rows: rows == 0)
        conn = await asyncpg.connect(pg_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM uploads") == 0
        finally:
            await conn.close()
    finally:
        await alice.disconnect()


async def test_deleting_the_message_removes_the_chunks(
    server_factory: ServerFactory, pg_url: str, http: aiohttp.ClientSession
) -> None:
    server = await pg_server(server_factory, pg_url)
    alice = await client_for(server, "websocket", "alice")
    try:
        data = os.urandom(2 * CHUNK_BYTES + 3)
        up = await upload(http, server, alice, data)
        ack = await send_file(alice, up["id"])
        assert await chunk_rows(pg_url, up["id"]) == 3
        await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": ack["message"]["id"]})
        assert await chunk_rows(pg_url, up["id"]) == 0
        status, _, _ = await get(http, f"{server.url}/media/{up['id']}", auth(alice))
        assert status == 404
    finally:
        await alice.disconnect()


async def test_an_image_upload_becomes_an_image_and_small_files_come_by_media_get(
    server_factory: ServerFactory, pg_url: str, http: aiohttp.ClientSession
) -> None:
    server = await pg_server(server_factory, pg_url)
    alice = await client_for(server, "websocket", "alice")
    try:
        buf = io.BytesIO()
        Image.new("RGB", (300, 200), (30, 60, 90)).save(buf, format="PNG")
        image = buf.getvalue()
        up = await upload(http, server, alice, image)
        ack = await send_file(alice, up["id"])
        assert ack["message"]["kind"] == "image" and ack["message"]["image"]["id"] == up["id"]
        # the bytes now live with the image row: the upload's chunks are gone
        assert await chunk_rows(pg_url) == 0
        status, body, _ = await get(http, f"{server.url}/media/{up['id']}", auth(alice))
        assert status == 200 and body == image
        small = b"a small file\n" * 100
        up2 = await upload(http, server, alice, small)
        await send_file(alice, up2["id"])
        got = await alice.ok(Event.MEDIA_GET, {"id": up2["id"]})
        assert got["data"] == small
    finally:
        await alice.disconnect()


async def test_a_starting_server_sweeps_chunks_no_upload_owns(
    server_factory: ServerFactory, pg_url: str, http: aiohttp.ClientSession
) -> None:
    first = await pg_server(server_factory, pg_url)
    alice = await client_for(first, "websocket", "alice")
    try:
        kept = await upload(http, first, alice, os.urandom(CHUNK_BYTES + 1))
    finally:
        await alice.disconnect()
    await first.stop()
    # what a node that died mid-upload leaves: chunks without a row, and an old marker
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(
            "INSERT INTO upload_chunks (upload_id, n, data) VALUES"
            " ($1, 0, $3), ($1, 1, $3), ($2, -1, convert_to('1', 'UTF8')), ($2, 0, $3)",
            "a" * 32,
            "b" * 32,
            os.urandom(1000),
        )
    finally:
        await conn.close()
    await pg_server(server_factory, pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        ids = {r[0] for r in await conn.fetch("SELECT DISTINCT upload_id FROM upload_chunks")}
    finally:
        await conn.close()
    assert ids == {kept["id"]}
