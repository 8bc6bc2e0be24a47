"""A client that stops reading is disconnected at its byte budget; memory stays bounded.

The slow clients are real: a raw websocket over a TCP socket with a tiny receive buffer
that never reads after its session arrives, and a long-polling client that never fetches.
The room keeps broadcasting through the fan-out fast path; the server's queued bytes for
the slow socket must never pass the budget, the socket must be dropped (logged, counted in
/metrics), and a healthy client in the same room must get every message. The slow user
catches up from history on reconnect.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import struct
from typing import Any

import aiohttp
import pytest

from server.app import SIO_KEY, RunningServer
from server.protocol import GENERAL_ROOM, Event
from server.ws_writer import EngineServer, OutboundQueue
from tests.conftest import ServerFactory
from tests.server.helpers import PASSWORD, ChatTestClient

BUDGET = 1024 * 1024
PAYLOAD = "y" * 60_000
MAX_BROADCASTS = 2000  # far past budget + kernel buffers; a bug fails, never hangs


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    # history_limit=1 keeps the "largest reply" floor below the 1 MiB budget under test
    return await server_factory(
        rate_limit_messages=0, outbound_budget_bytes=BUDGET, history_limit=1
    )


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 0xFE, n)
    return head + mask + masked


async def _stalled_websocket(url: str, username: str) -> tuple[socket.socket, str]:
    """Log in over a raw websocket with a 4 KiB receive buffer, then never read again."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    seen = b""
    while b"\r\n\r\n" not in seen or b'"sid"' not in seen:
        seen += await loop.sock_recv(sock, 4096)
    eio_sid = json.loads(seen[seen.index(b"{") : seen.index(b"}", seen.index(b'"sid"')) + 1])["sid"]
    auth = json.dumps({"username": username, "password": PASSWORD})
    await loop.sock_sendall(sock, _masked_text_frame("40" + auth))
    while b'"session"' not in seen:
        seen += await loop.sock_recv(sock, 4096)
    return sock, eio_sid


async def _flood_until_gone(
    server: RunningServer, eio_sid: str, queued: Any, healthy: ChatTestClient
) -> int:
    """Broadcast until the slow socket is dropped; check its queued bytes after each one."""
    sio = server.app[SIO_KEY]
    eio = sio.eio
    assert isinstance(eio, EngineServer)
    peak = 0
    for n in range(MAX_BROADCASTS):
        sock = eio.sockets.get(eio_sid)
        if sock is None or sock.closed:
            break
        await sio.emit(Event.MESSAGE, {"flood": n, "text": PAYLOAD}, to=GENERAL_ROOM)
        peak = max(peak, queued(sock))
        assert queued(sock) <= BUDGET, f"{queued(sock)} bytes queued, budget {BUDGET}"
        # let the healthy client keep up (it reads), and the loop flush
        await healthy.wait_for(Event.MESSAGE, lambda m, n=n: m.get("flood") == n)
    else:
        raise AssertionError("the slow client was never disconnected")
    return peak


def _ws_queued(sock: Any) -> int:
    queue = sock.queue
    assert isinstance(queue, OutboundQueue)
    return queue.writer.queued_bytes if queue.writer is not None else queue.queued_bytes


async def test_websocket_that_stops_reading_is_dropped_at_its_budget(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    healthy = ChatTestClient(server.url, ["websocket"])
    await healthy.connect({"username": "reader", "password": PASSWORD})
    await healthy.wait_for(Event.SESSION)
    raw, eio_sid = await _stalled_websocket(server.url, "sleeper")
    try:
        with caplog.at_level(logging.WARNING, logger="server.ws_writer"):
            peak = await _flood_until_gone(server, eio_sid, _ws_queued, healthy)
        assert peak > BUDGET // 2  # it really filled up before it went
        assert any("not reading" in r.getMessage() for r in caplog.records)
        name = "parley_slow_client_disconnects_total"
        async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as resp:
            text = await resp.text()
        assert f'{name}{{transport="websocket"}} 1' in text
        assert f'{name}{{transport="polling"}} 0' in text
        # the healthy reader is still there and still gets messages
        await server.app[SIO_KEY].emit(Event.MESSAGE, {"flood": "after"}, to=GENERAL_ROOM)
        await healthy.wait_for(Event.MESSAGE, lambda m: m.get("flood") == "after")
        assert healthy.sio.connected
    finally:
        raw.close()
        await healthy.disconnect()

    # the dropped user reconnects and catches up from history
    back = ChatTestClient(server.url, ["websocket"])
    await back.connect({"username": "sleeper", "password": PASSWORD})
    await back.wait_for(Event.SESSION)
    sent = await back.send(GENERAL_ROOM, "back again")
    page = await back.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM})
    assert [m["id"] for m in page["messages"]] == [sent["id"]]
    await back.disconnect()


async def test_polling_client_that_stops_fetching_is_dropped_at_its_budget(
    server: RunningServer,
) -> None:
    healthy = ChatTestClient(server.url, ["websocket"])
    await healthy.connect({"username": "reader", "password": PASSWORD})
    await healthy.wait_for(Event.SESSION)
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            eio_sid = json.loads((await resp.text())[1:])["sid"]
        auth = json.dumps({"username": "idle", "password": PASSWORD})
        async with http.post(f"{base}&sid={eio_sid}", data=("40" + auth).encode()) as resp:
            assert resp.status == 200
        # it is online (its session is queued for it) once the others hear so
        await healthy.wait_for(
            Event.PRESENCE, lambda p: p["user"] == "idle" and p["state"] == "online"
        )
        try:
            await _flood_until_gone(server, eio_sid, _ws_queued, healthy)
            async with aiohttp.ClientSession() as h2, h2.get(server.url + "/metrics") as r:
                text = await r.text()
            assert 'parley_slow_client_disconnects_total{transport="polling"} 1' in text
            # its next poll is told to go (CLOSE) or finds the session gone: it reconnects
            async with http.get(f"{base}&sid={eio_sid}") as resp:
                body = await resp.text()
            assert resp.status == 400 or body.split("\x1e")[0] == "1", body[:200]
        finally:
            await healthy.disconnect()
