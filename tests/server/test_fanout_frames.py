"""Frames built by ``server.ws_writer`` are byte-identical to aiohttp's own writer.

A real aiohttp websocket on 127.0.0.1 sends each payload twice: first through engine.io's
stock aiohttp driver (``send`` -> ``send_str``/``send_bytes``), then as our pre-built frame
written to the same transport. A raw TCP client reads the bytes off the wire and compares
the two halves: text and binary, 0 bytes to 10 MiB, across the 7-bit, 16-bit (126) and
64-bit (127) length forms.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp

from server.ws_writer import OP_BINARY, OP_TEXT, frame, frame_parts, packet_frame

SIZES = [0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, 1024 * 1024, 10 * 1024 * 1024]


def _text(size: int) -> str:
    """A str whose UTF-8 encoding is exactly ``size`` bytes, with multi-byte characters."""
    unit = "é€a"  # 2 + 3 + 1 bytes
    text = unit * (size // 6)
    text += "a" * (size - len(text.encode()))
    assert len(text.encode()) == size
    return text


async def _read_raw_frames(port: int, total: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"sec-websocket-extensions" not in head.lower()  # compress=False: plain frames
    data = await reader.readexactly(total)
    writer.close()
    await writer.wait_closed()
    return data


@pytest.fixture
async def wire() -> AsyncIterator[tuple[int, asyncio.Queue[list[tuple[str | bytes, bytes]]]]]:
    """A websocket endpoint that sends each (message, our frame) pair it is handed."""
    jobs: asyncio.Queue[list[tuple[str | bytes, bytes]]] = asyncio.Queue()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        stock = eio_aiohttp.WebSocket(None, None)
        stock._sock = ws
        assert request.transport is not None
        for message, ours in await jobs.get():
            await stock.send(message)  # engine.io's stock driver -> aiohttp's writer
            request.transport.write(ours)
        await ws.receive()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield port, jobs
    await runner.cleanup()


@pytest.mark.parametrize("size", SIZES)
async def test_frames_match_aiohttp_for_text_and_binary(
    wire: tuple[int, asyncio.Queue[list[tuple[str | bytes, bytes]]]], size: int
) -> None:
    port, jobs = wire
    text = _text(size)
    blob = os.urandom(size)
    ours_text = frame(text.encode(), OP_TEXT)
    ours_blob = frame(blob, OP_BINARY)
    await jobs.put([(text, ours_text), (blob, ours_blob)])
    total = 2 * len(ours_text) + 2 * len(ours_blob)
    data = await _read_raw_frames(port, total)
    n = len(ours_text)
    assert data[:n] == ours_text, "aiohttp's text frame differs from ours"
    assert data[n : 2 * n] == ours_text
    m = len(ours_blob)
    assert data[2 * n : 2 * n + m] == ours_blob, "aiohttp's binary frame differs from ours"
    assert data[2 * n + m :] == ours_blob
    # the length form the RFC demands, so the comparison above covered all three
    second = data[1] & 0x7F
    assert second == (size if size < 126 else 126 if size < 65536 else 127)


@pytest.mark.parametrize("size", [0, 125, 126, 65536])
async def test_engineio_packets_frame_like_the_stock_driver(
    wire: tuple[int, asyncio.Queue[list[tuple[str | bytes, bytes]]]], size: int
) -> None:
    """``packet_frame`` equals what engine.io's writer sends for the same packet."""
    port, jobs = wire
    text_pkt = eio_packet.Packet(eio_packet.MESSAGE, "42" + _text(size))
    blob_pkt = eio_packet.Packet(eio_packet.MESSAGE, os.urandom(size))
    ours_text = b"".join(packet_frame(text_pkt))
    ours_blob = b"".join(packet_frame(blob_pkt))
    await jobs.put([(text_pkt.encode(), ours_text), (blob_pkt.encode(), ours_blob)])
    data = await _read_raw_frames(port, 2 * len(ours_text) + 2 * len(ours_blob))
    assert data == ours_text * 2 + ours_blob * 2


def test_large_frames_are_split_without_copying_the_payload() -> None:
    payload = os.urandom(200_000)
    header, body = frame_parts(payload, OP_BINARY)
    assert body is payload and len(header) == 10
