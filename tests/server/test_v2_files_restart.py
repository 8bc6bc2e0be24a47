"""Uploads across a crash: a SIGKILL mid-upload leaves no half file that is ever served.

A real ``python -m server`` child receives part of a large upload (its temporary file
exists and holds bytes), is killed with SIGKILL, and started again on the same data dir.
The unfinished temporary file is gone, no upload was recorded, and an upload that had
completed before the crash is still whole, sendable and downloadable.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from server.protocol import GENERAL_ROOM, Event
from tests.support.server_process import ServerProcess

PASSWORD = "upload restart password"
TIMEOUT_S = 15.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", "--rate-limit", "0")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def login(http: aiohttp.ClientSession, url: str) -> str:
    async with http.post(
        f"{url}/api/login", json={"username": "alice", "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def wait_for_partial_file(tmp: Path, at_least: int) -> Path:
    """The server's temporary file once it holds ``at_least`` bytes (a condition, polled)."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            for part in tmp.glob("*.part"):
                if part.stat().st_size >= at_least:
                    return part
            await asyncio.sleep(0.02)


async def test_sigkill_mid_upload_leaves_nothing_half_written(
    server: ServerProcess,
) -> None:
    files = server.data_dir / "files"
    async with aiohttp.ClientSession() as http:
        token = await login(http, server.url)
        auth = {"Authorization": f"Bearer {token}"}
        whole = bytes(range(256)) * 4096  # 1 MiB, completed before the crash
        async with http.post(
            f"{server.url}/api/media?name=whole.bin", data=whole, headers=auth
        ) as r:
            assert r.status == 201
            done = (await r.json())["upload"]

        # a raw HTTP upload announcing 8 MiB, of which 3 MiB are sent before the crash
        total = 8 * 1024 * 1024
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            (
                f"POST /api/media?name=half.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: {total}\r\n\r\n"
            ).encode()
        )
        chunk = b"h" * (64 * 1024)
        for _ in range(48):
            writer.write(chunk)
            await writer.drain()
        partial = await wait_for_partial_file(files / ".tmp", 1024 * 1024)
        assert partial.exists()
        await asyncio.to_thread(server.kill)
        writer.close()

        await asyncio.to_thread(server.start)
        # the unfinished temporary file is gone and nothing half-written was kept
        assert list((files / ".tmp").iterdir()) == []
        assert sorted(p.name for p in files.iterdir() if p.name != ".tmp") == [done["id"]]

        # the completed upload survived whole: it can be sent and downloaded
        token = await login(http, server.url)
        auth = {"Authorization": f"Bearer {token}"}
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(server.url, auth={"token": token}, transports=["websocket"])
        try:
            ack = await sio.call(
                Event.MESSAGE_SEND,
                {
                    "room": GENERAL_ROOM,
                    "client_id": str(uuid.uuid4()),
                    "file": {"upload": done["id"]},
                },
                timeout=TIMEOUT_S,
            )
            assert ack["ok"] is True, ack
            assert ack["message"]["file"]["size"] == len(whole)
        finally:
            await sio.disconnect()
        async with http.get(f"{server.url}/media/{done['id']}", headers=auth) as r:
            assert r.status == 200 and await r.read() == whole


async def test_a_restart_finishes_erasing_deleted_files(server: ServerProcess) -> None:
    """Bytes listed for erasure by a committed delete are erased at the next start, even
    when the process died before it got to them (simulated: the file is put back)."""
    files = server.data_dir / "files"
    async with aiohttp.ClientSession() as http:
        token = await login(http, server.url)
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(
            f"{server.url}/api/media?name=x", data=b"gone soon", headers=auth
        ) as r:
            up = (await r.json())["upload"]
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(server.url, auth={"token": token}, transports=["websocket"])
        try:
            sent = await sio.call(
                Event.MESSAGE_SEND,
                {"room": GENERAL_ROOM, "client_id": "f1", "file": {"upload": up["id"]}},
                timeout=TIMEOUT_S,
            )
            deleted = await sio.call(
                Event.MESSAGE_DELETE,
                {"room": GENERAL_ROOM, "id": sent["message"]["id"]},
                timeout=TIMEOUT_S,
            )
            assert deleted["ok"] is True, deleted
        finally:
            await sio.disconnect()
        assert not (files / up["id"]).exists()
        await asyncio.to_thread(server.kill)
        # a stray file under an id the database no longer knows (as if the unlink was lost)
        (files / up["id"]).write_bytes(b"gone soon")
        await asyncio.to_thread(server.start)
        assert not (files / up["id"]).exists()
        token = await login(http, server.url)
        async with http.get(
            f"{server.url}/media/{up['id']}", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            assert r.status == 404
            assert json.loads(await r.text())["error"]["code"] == "not_found"
