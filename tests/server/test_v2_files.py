"""Protocol v2, section 17: uploads, file messages and downloads, over WebSocket and polling.

``POST /api/media`` streams to disk with its own limit, ``message:send`` with ``file`` uses
an upload once (by its uploader), an upload that is an acceptable image becomes an image
message, ``GET /media/{id}`` serves members with Range support and safe headers, and
deleting a message or closing a room erases the bytes.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from server.app import RunningServer
from server.http_api import CHAT_KEY
from server.protocol import GENERAL_ROOM, ErrorCode, Event
from server.storage.postgres.blobs import MARKER, PgBlobStore
from server.storage.uploads import FileStore
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import ChatTestClient
from tests.server.v2_helpers import client_for


def png(width: int = 40, height: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def token(client: ChatTestClient) -> str:
    return str(client.session["token"])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def upload(
    http: aiohttp.ClientSession,
    server: RunningServer,
    client: ChatTestClient,
    data: bytes,
    name: str | None = "notes.txt",
) -> dict[str, Any]:
    params = {} if name is None else {"name": name}
    async with http.post(
        f"{server.url}/api/media",
        params=params,
        data=data,
        headers={"Authorization": f"Bearer {token(client)}"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        assert set(body["upload"]) == {"id", "name", "size", "mime"}
        return dict(body["upload"])


async def send_file(client: ChatTestClient, upload_id: str, **fields: Any) -> dict[str, Any]:
    payload = {"room": GENERAL_ROOM, "client_id": str(uuid.uuid4()), "file": {"upload": upload_id}}
    return await client.call(Event.MESSAGE_SEND, {**payload, **fields})


async def partial_uploads(server: RunningServer) -> dict[str, int]:
    """Uploads still being received -> bytes stored so far, asked of the handler's blob
    store: temporary files on disk (SQLite) or marked chunks in ``upload_chunks`` (PG)."""
    store = server.app[CHAT_KEY].files.store
    if isinstance(store, PgBlobStore):
        rows = await store.pool.fetch(
            "SELECT m.upload_id, COALESCE(SUM(octet_length(c.data)), 0) AS size"
            " FROM upload_chunks m"
            " LEFT JOIN upload_chunks c ON c.upload_id = m.upload_id AND c.n >= 0"
            " WHERE m.n = $1 GROUP BY m.upload_id",
            MARKER,
        )
        return {row["upload_id"]: int(row["size"]) for row in rows}
    assert isinstance(store, FileStore), type(store)
    return {p.name: p.stat().st_size for p in store.tmp.iterdir()}


async def stored_files(server: RunningServer) -> list[str]:
    """Ids of the stored files, then ``tmp/<id>`` for uploads still being received: from
    the blob store, so it holds on both backends (PG keeps the bytes in the database)."""
    store = server.app[CHAT_KEY].files.store
    partial = await partial_uploads(server)
    return sorted(await store.stored_ids()) + sorted("tmp/" + name for name in partial)


async def test_a_file_is_uploaded_sent_and_downloaded(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    assert "files" in alice.session["server"]["features"]
    assert alice.session["server"]["limits"]["max_file_bytes"] == 100 * 1024 * 1024
    data = "Übersicht: the plan\n".encode() * 100
    up = await upload(http, server, alice, data, "Über plan.txt")
    assert up["name"] == "Über plan.txt" and up["size"] == len(data)
    assert up["mime"] == "text/plain"

    ack = await send_file(alice, up["id"], text="the plan")
    assert ack["ok"] is True, ack
    message = ack["message"]
    assert message["kind"] == "file" and message["text"] == "the plan"
    assert message["image"] is None
    assert message["file"] == up
    seen = await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == message["id"])
    assert seen["file"] == up

    async with http.get(
        f"{server.url}/media/{up['id']}", headers={"Authorization": f"Bearer {token(bob)}"}
    ) as resp:
        assert resp.status == 200
        assert await resp.read() == data
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''%C3%9Cber%20plan.txt" in disposition
        assert 'filename="_ber plan.txt"' in disposition

    # media:get still answers small files
    got = await bob.ok(Event.MEDIA_GET, {"id": up["id"]})
    assert got["data"] == data and got["name"] == "Über plan.txt"

    # history shows the file too
    history = await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM})
    assert history["messages"][-1]["file"] == up


async def test_downloads_resume_with_range_requests(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    data = bytes(range(256)) * 40
    up = await upload(http, server, alice, data, "blob.bin")
    assert up["mime"] == "application/octet-stream"
    assert (await send_file(alice, up["id"]))["ok"] is True
    url = f"{server.url}/media/{up['id']}"
    auth = {"Authorization": f"Bearer {token(alice)}"}
    async with http.get(url, headers={**auth, "Range": "bytes=100-199"}) as resp:
        assert resp.status == 206
        assert await resp.read() == data[100:200]
        assert resp.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    async with http.get(url, headers={**auth, "Range": "bytes=10000-"}) as resp:
        assert resp.status == 206
        assert await resp.read() == data[10000:]
    async with http.get(url, headers={**auth, "Range": "bytes=-16"}) as resp:
        assert resp.status == 206
        assert await resp.read() == data[-16:]
    async with http.get(url, headers={**auth, "Range": f"bytes={len(data)}-"}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{len(data)}"


async def test_images_answer_range_requests_too(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    data = png()
    ack = await alice.ok(
        Event.MESSAGE_SEND,
        {"room": GENERAL_ROOM, "client_id": "img", "image": {"data": data, "name": "a.png"}},
    )
    url = f"{server.url}/media/{ack['message']['image']['id']}"
    auth = {"Authorization": f"Bearer {token(alice)}"}
    async with http.get(url, headers={**auth, "Range": "bytes=0-7"}) as resp:
        assert resp.status == 206 and await resp.read() == data[:8]
    async with http.get(url, headers={**auth, "Range": "bytes=999999-"}) as resp:
        assert resp.status == 416
    async with http.get(url, headers=auth) as resp:
        assert resp.status == 200 and await resp.read() == data


async def test_an_uploaded_image_becomes_an_image_message(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    data = png(800, 400)
    up = await upload(http, server, alice, data, "photo.png")
    assert up["mime"] == "image/png"
    ack = await send_file(alice, up["id"], text="caption")
    message = ack["message"]
    assert message["kind"] == "image" and message["file"] is None
    image = message["image"]
    assert image["id"] == up["id"] and image["width"] == 800 and image["height"] == 400
    assert image["name"] == "photo.png" and image["size"] == len(data)
    thumb = Image.open(io.BytesIO(image["thumb"]))
    assert max(thumb.size) <= 320
    assert (await alice.ok(Event.MEDIA_GET, {"id": up["id"]}))["data"] == data
    # the bytes now live with the image; the upload's copy is gone
    assert await stored_files(server) == []


async def test_a_broken_image_is_sent_as_a_file(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    data = b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10
    up = await upload(http, server, alice, data, "broken.png")
    ack = await send_file(alice, up["id"])
    assert ack["message"]["kind"] == "file"
    assert ack["message"]["file"]["mime"] == "image/png"


async def test_an_upload_is_used_once_by_its_uploader_only(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    up = await upload(http, server, alice, b"hello file")
    # someone else's upload
    assert (await send_file(bob, up["id"]))["error"]["code"] == ErrorCode.NOT_FOUND
    # unknown ids, well formed or not
    for unknown in ("0" * 32, "nope", "../../etc/passwd"):
        assert (await send_file(alice, unknown))["error"]["code"] == ErrorCode.NOT_FOUND
    first = await send_file(alice, up["id"], client_id="c-1")
    assert first["ok"] is True
    # a resend with the same client_id answers the stored message
    again = await send_file(alice, up["id"], client_id="c-1")
    assert again["ok"] is True and again["message"]["id"] == first["message"]["id"]
    # a second message with the same upload is refused
    assert (await send_file(alice, up["id"]))["error"]["code"] == ErrorCode.NOT_FOUND
    history = await alice.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM})
    assert [m["id"] for m in history["messages"] if m["kind"] == "file"] == [first["message"]["id"]]


@pytest.mark.parametrize(
    "fields",
    [
        {"file": {"upload": "0" * 32}, "image": {"data": b"x"}},
        {"file": "abc"},
        {"file": {}},
        {"file": {"upload": 5}},
        {"file": {"upload": ""}},
        {"file": {"upload": "a" * 65}},
        {"file": {"upload": "0" * 32, "extra": 1}},
        {"file": [1]},
    ],
)
async def test_malformed_file_sends_are_bad_request(
    connect: Connect, fields: dict[str, Any]
) -> None:
    alice = await connect("alice")
    payload = {"room": GENERAL_ROOM, "client_id": str(uuid.uuid4()), **fields}
    assert await alice.error(Event.MESSAGE_SEND, payload) == ErrorCode.BAD_REQUEST


async def test_downloads_are_for_members_with_a_token(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "private-files", "private": True})
    up = await upload(http, server, alice, b"secret bytes")
    ack = await alice.call(
        Event.MESSAGE_SEND,
        {"room": "private-files", "client_id": "p1", "file": {"upload": up["id"]}},
    )
    assert ack["ok"] is True
    url = f"{server.url}/media/{up['id']}"
    async with http.get(url, headers={"Authorization": f"Bearer {token(bob)}"}) as resp:
        # the answer for an unknown id: a non-member learns nothing about the file
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with http.get(url) as resp:
        assert resp.status == 401
    assert await bob.error(Event.MEDIA_GET, {"id": up["id"]}) == ErrorCode.NOT_FOUND
    # an unused upload is nobody's download, not even its uploader's
    unused = await upload(http, server, alice, b"not sent")
    async with http.get(
        f"{server.url}/media/{unused['id']}", headers={"Authorization": f"Bearer {token(alice)}"}
    ) as resp:
        assert resp.status == 404


async def test_uploads_need_a_token(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{server.url}/api/media?name=a", data=b"x") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"
    async with http.post(
        f"{server.url}/api/media", data=b"x", headers={"Authorization": "Bearer nope"}
    ) as resp:
        assert resp.status == 401


async def test_names_are_for_display_only(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    cases = {
        "../../etc/passwd": "passwd",
        "C:\\Users\\me\\report.pdf": "report.pdf",
        "evil\u202etxt.exe": "eviltxt.exe",
        "zero\u200bwidth\x00nul\x07.txt": "zerowidthnul.txt",
        "..": "file",
        "": "file",
        "line\nbreak.txt": "linebreak.txt",
        ".hidden": "hidden",
        "x" * 300: "x" * 255,
        "y" * 300 + ".pdf": "y" * 251 + ".pdf",
    }
    for raw, shown in cases.items():
        up = await upload(http, server, alice, b"data", raw)
        assert up["name"] == shown, raw
    assert (await upload(http, server, alice, b"data", None))["name"] == "file"
    # whatever the name, the bytes are stored under the server's own id
    assert all(len(name) == 32 for name in await stored_files(server))


async def test_oversize_uploads_are_too_large_and_keep_nothing(
    server_factory: ServerFactory, transport: str, http: aiohttp.ClientSession
) -> None:
    server = await server_factory(max_file_bytes=64 * 1024)
    alice = await client_for(server, transport, "alice")
    try:
        auth = {"Authorization": f"Bearer {token(alice)}"}
        # refused up front from Content-Length
        async with http.post(
            f"{server.url}/api/media?name=big", data=b"x" * (64 * 1024 + 1), headers=auth
        ) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "too_large"

        # refused while streaming when there is no Content-Length (chunked)
        async def body() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"y" * 4096

        async with http.post(f"{server.url}/api/media?name=big", data=body(), headers=auth) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "too_large"
        assert await stored_files(server) == []
        # exactly the limit is fine
        up = await upload(http, server, alice, b"z" * (64 * 1024), "edge")
        assert up["size"] == 64 * 1024
    finally:
        await alice.disconnect()


async def test_an_empty_file_is_a_file(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    up = await upload(http, server, alice, b"", "empty")
    assert up["size"] == 0 and up["mime"] == "application/octet-stream"
    ack = await send_file(alice, up["id"])
    assert ack["message"]["kind"] == "file"


async def test_deleting_a_file_message_erases_its_bytes(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    up = await upload(http, server, alice, b"to be deleted")
    message = (await send_file(alice, up["id"]))["message"]
    assert await stored_files(server) == [up["id"]]
    tomb = await alice.ok(Event.MESSAGE_DELETE, {"room": GENERAL_ROOM, "id": message["id"]})
    assert tomb["message"]["deleted"] is True and tomb["message"]["file"] is None
    assert await stored_files(server) == []
    assert await alice.error(Event.MEDIA_GET, {"id": up["id"]}) == ErrorCode.NOT_FOUND
    async with http.get(
        f"{server.url}/media/{up['id']}", headers={"Authorization": f"Bearer {token(alice)}"}
    ) as resp:
        assert resp.status == 404


async def test_closing_a_room_erases_its_files(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "doomed"})
    up = await upload(http, server, alice, b"room file")
    kept = await upload(http, server, alice, b"general file")
    ack = await alice.call(
        Event.MESSAGE_SEND, {"room": "doomed", "client_id": "d1", "file": {"upload": up["id"]}}
    )
    assert ack["ok"] is True
    assert (await send_file(alice, kept["id"]))["ok"] is True
    await alice.ok(Event.ROOM_CLOSE, {"room": "doomed"})
    assert await stored_files(server) == [kept["id"]]


async def test_unused_uploads_expire(
    server_factory: ServerFactory,
    transport: str,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server.handlers import media

    server = await server_factory(upload_ttl_s=3600.0)
    alice = await client_for(server, transport, "alice")
    try:
        used = await upload(http, server, alice, b"used")
        assert (await send_file(alice, used["id"]))["ok"] is True
        unused = await upload(http, server, alice, b"unused")
        files = server.app[CHAT_KEY].files
        assert await files.expire() == 0  # younger than the TTL: kept
        # two hours later (the handler's clock moved on; no waiting)
        later = media.now_ms() + 2 * 3600 * 1000
        monkeypatch.setattr(media, "now_ms", lambda: later)
        assert await files.expire() == 1
        assert await stored_files(server) == [used["id"]]
        assert (await send_file(alice, unused["id"]))["error"]["code"] == ErrorCode.NOT_FOUND
    finally:
        await alice.disconnect()


async def test_media_get_of_a_large_file_is_too_large(
    server_factory: ServerFactory, transport: str, http: aiohttp.ClientSession
) -> None:
    server = await server_factory(max_image_bytes=1024)
    alice = await client_for(server, transport, "alice")
    try:
        up = await upload(http, server, alice, b"q" * 2048, "big.bin")
        assert (await send_file(alice, up["id"]))["ok"] is True
        assert await alice.error(Event.MEDIA_GET, {"id": up["id"]}) == ErrorCode.TOO_LARGE
        async with http.get(
            f"{server.url}/media/{up['id']}", headers={"Authorization": f"Bearer {token(alice)}"}
        ) as resp:
            assert resp.status == 200 and len(await resp.read()) == 2048
    finally:
        await alice.disconnect()


async def test_a_file_message_can_be_edited_and_searched_by_caption(
    server: RunningServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    alice = await connect("alice")
    up = await upload(http, server, alice, b"%PDF-1.7 fake", "q3.pdf")
    assert up["mime"] == "application/pdf"
    message = (await send_file(alice, up["id"], text="quarterly numbers"))["message"]
    edited = await alice.ok(
        Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": message["id"], "text": ""}
    )
    assert edited["message"]["text"] == "" and edited["message"]["file"] == up
    found = await alice.ok(Event.MESSAGE_SEARCH, {"query": "quarterly"})
    assert found["messages"] == []


async def test_a_client_gone_mid_upload_leaves_nothing_and_no_error(
    server: RunningServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio
    import logging

    alice = await connect("alice")
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        (
            "POST /api/media?name=x HTTP/1.1\r\nHost: parley\r\n"
            f"Authorization: Bearer {token(alice)}\r\nContent-Length: 5000000\r\n\r\n"
        ).encode()
    )
    writer.write(b"x" * 2_000_000)
    await writer.drain()
    async with asyncio.timeout(10):  # a condition on the blob store, polled
        while not any(size > 0 for size in (await partial_uploads(server)).values()):
            await asyncio.sleep(0.01)
    writer.transport.abort()
    async with asyncio.timeout(10):
        while await partial_uploads(server):
            await asyncio.sleep(0.01)
    assert await stored_files(server) == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # the server carries on
    assert (await upload_ok(server, alice))["size"] == 3


async def upload_ok(server: RunningServer, client: ChatTestClient) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        return await upload(http, server, client, b"abc")
