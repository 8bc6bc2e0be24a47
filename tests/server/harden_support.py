"""Raw engine.io / HTTP clients for the transport-hardening tests: they send what a hostile
client sends (byte-exact frames, half bodies, slow headers), which python-socketio won't."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from server.app import SIO_KEY, RunningServer
from server.sio_guard import GuardedSocketServer
from tests.server.helpers import PASSWORD

WAIT_S = 15.0  # bounds a condition that should come true in milliseconds


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Wait for a condition on server state (checked every 10 ms), or fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def sio_of(server: RunningServer) -> GuardedSocketServer:
    sio = server.app[SIO_KEY]
    assert isinstance(sio, GuardedSocketServer)
    return sio


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def host_port(server: RunningServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def raw_http(server: RunningServer, data: bytes, *, close_after: bool = True) -> bytes:
    """Send ``data`` on a fresh TCP connection and return what the server answers (until EOF
    or until the response head and its Content-Length body are in)."""
    host, port = host_port(server)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader)
    finally:
        if close_after:
            writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


async def polling_handshake(session: aiohttp.ClientSession, server: RunningServer) -> str:
    async with session.get(f"{server.url}/socket.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    assert text.startswith("0"), text
    return str(json.loads(text[1:])["sid"])


class RawSocket:
    """A Socket.IO v5 client over a raw aiohttp websocket: every frame is ours to choose."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 1
        self.events: list[Any] = []

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, server: RunningServer) -> RawSocket:
        ws = await session.ws_connect(
            f"{server.url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0
        )
        opened = await ws.receive_str()
        assert opened.startswith("0"), opened
        return cls(ws)

    async def login(self, username: str, password: str = PASSWORD) -> None:
        await self.ws.send_str("40" + json.dumps({"username": username, "password": password}))
        reply = await self.next_packet()
        assert reply.startswith("0{"), reply
        while True:
            pkt = await self.next_packet()
            if pkt.startswith('2["session"'):
                return

    async def next_packet(self) -> str:
        """The next Socket.IO text packet (engine.io pings answered on the way)."""
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"websocket ended: {msg.type} {msg.data!r}")
            data = str(msg.data)
            if data == "2":
                await self.ws.send_str("3")
                continue
            if data.startswith("4"):
                return data[1:]

    async def call_raw(self, body: str) -> dict[str, Any]:
        """Send ``42<id><body>`` and return the ack's payload."""
        ack_id = self.next_id
        self.next_id += 1
        await self.ws.send_str(f"42{ack_id}{body}")
        return await self.ack(ack_id)

    async def ack(self, ack_id: int) -> dict[str, Any]:
        prefix = f"3{ack_id}["
        while True:
            pkt = await self.next_packet()
            if pkt.startswith(prefix):
                result = json.loads(pkt[len(prefix) - 1 :])[0]
                assert isinstance(result, dict)
                return result
            self.events.append(pkt)

    async def closed(self) -> bool:
        """Read until the server ends the websocket; True once it has."""
        while True:
            msg = await self.ws.receive()
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.ERROR,
            ):
                return True
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await self.ws.send_str("3")

    async def close(self) -> None:
        await self.ws.close()
