"""Raw engine.io v4 / Socket.IO v5 clients that record every event with its wire bytes.

The fan-out tests need what python-socketio's client hides: which transport delivered a
packet, the exact text of each packet, and control over *when* a polling client upgrades
to websocket. These clients speak the protocol by hand over aiohttp:

- ``RawClient.websocket``: websocket from the first request;
- ``RawClient.polling``: HTTP long-polling only;
- ``RawClient.polling`` + ``upgrade()``: long-polling that upgrades when told, following
  engine.io's client (probe, pause polling after the in-flight poll returns, UPGRADE).

Events are recorded in arrival order as ``Got(event, data, raw)`` where ``raw`` is the
Socket.IO packet text plus its binary attachments, exactly as received.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

TIMEOUT = 20.0


@dataclass
class Got:
    event: str
    data: Any
    raw: tuple[str, tuple[bytes, ...]]


@dataclass
class RawClient:
    http: aiohttp.ClientSession
    base: str  # http://host:port
    got: list[Got] = field(default_factory=list)
    transport: str = "polling"
    sid: str = ""
    ws: aiohttp.ClientWebSocketResponse | None = None
    closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _binary: tuple[str, Any, int, list[bytes]] | None = None
    _poller: asyncio.Task[None] | None = None
    _ws_reader: asyncio.Task[None] | None = None
    _pause: bool = False
    _session: asyncio.Future[Any] | None = None

    # ----------------------------------------------------------------- connecting

    @property
    def _eio(self) -> str:
        return self.base + "/socket.io/?EIO=4"

    async def websocket(self, auth: dict[str, Any]) -> Any:
        self.transport = "websocket"
        url = self._eio.replace("http://", "ws://") + "&transport=websocket"
        self.ws = await self.http.ws_connect(url, max_msg_size=0, autoping=True)
        opening = await self.ws.receive_str(timeout=TIMEOUT)
        assert opening.startswith("0"), opening
        self.sid = json.loads(opening[1:])["sid"]
        return await self._login(auth, self._start_ws_reader)

    async def polling(self, auth: dict[str, Any]) -> Any:
        async with self.http.get(self._eio + "&transport=polling") as resp:
            body = await resp.text()
        assert body.startswith("0"), body
        self.sid = json.loads(body[1:])["sid"]
        return await self._login(auth, self._start_poller)

    async def _login(self, auth: dict[str, Any], start: Any) -> Any:
        self._session = asyncio.get_running_loop().create_future()
        start()
        await self.send_text("40" + json.dumps(auth))
        return await asyncio.wait_for(self._session, TIMEOUT)

    def _start_ws_reader(self) -> None:
        self._ws_reader = asyncio.create_task(self._read_ws())

    def _start_poller(self) -> None:
        self._poller = asyncio.create_task(self._poll())

    async def send_text(self, packet: str) -> None:
        if self.ws is not None and self.transport == "websocket":
            await self.ws.send_str(packet)
            return
        async with self.http.post(
            self._eio + f"&transport=polling&sid={self.sid}", data=packet.encode()
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def upgrade(self) -> None:
        """Upgrade a polling client to websocket the way engine.io's client does."""
        url = self._eio.replace("http://", "ws://") + f"&transport=websocket&sid={self.sid}"
        ws = await self.http.ws_connect(url, max_msg_size=0, autoping=True)
        await ws.send_str("2probe")
        assert await ws.receive_str(timeout=TIMEOUT) == "3probe"
        self._pause = True  # the in-flight poll returns (the server ends it), then stops
        assert self._poller is not None
        await self._poller
        self.ws = ws
        self.transport = "websocket"
        await ws.send_str("5")
        self._start_ws_reader()

    async def close(self) -> None:
        self.closed = True
        if self.ws is not None:
            await self.ws.close()
        for task in (self._poller, self._ws_reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ----------------------------------------------------------------- receiving

    async def _poll(self) -> None:
        while not self._pause and not self.closed:
            async with self.http.get(self._eio + f"&transport=polling&sid={self.sid}") as resp:
                body = await resp.text()
                if resp.status != 200:
                    self.closed = True
                    self._changed.set()
                    return
            for packet in body.split("\x1e"):
                if packet:
                    await self._on_packet(packet)

    async def _read_ws(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self._on_packet(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self._on_attachment(msg.data)
            else:
                break
        self.closed = True
        self._changed.set()

    async def _on_packet(self, packet: str) -> None:
        kind = packet[0]
        if kind == "b":
            self._on_attachment(base64.b64decode(packet[1:]))
        elif kind == "2":
            await self.send_text("3")
        elif kind == "1":
            self.closed = True
            self._changed.set()
        elif kind == "4":
            self._on_socketio(packet[1:])

    def _on_socketio(self, text: str) -> None:
        kind = text[0]
        if kind == "0":
            return
        if kind == "4" and self._session is not None and not self._session.done():
            self._session.set_exception(RuntimeError(f"refused: {text}"))
            return
        if kind == "2":
            event, data = json.loads(text[1:])
            self._record(Got(event, data, (text, ())))
        elif kind == "5":
            count, rest = text[1:].split("-", 1)
            event, data = json.loads(rest)
            self._binary = (text, [event, data], int(count), [])

    def _on_attachment(self, blob: bytes) -> None:
        assert self._binary is not None, "a binary attachment without its packet"
        text, args, count, blobs = self._binary
        blobs.append(blob)
        if len(blobs) < count:
            return
        self._binary = None
        event, data = args
        self._record(Got(event, _fill(data, blobs), (text, tuple(blobs))))

    def _record(self, got: Got) -> None:
        if got.event == "session" and self._session is not None and not self._session.done():
            self._session.set_result(got.data)
        self.got.append(got)
        self._changed.set()

    async def wait_until(self, predicate: Any) -> None:
        async def loop() -> None:
            while not predicate():
                if self.closed:
                    raise AssertionError("connection closed while waiting")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), TIMEOUT)


def _fill(data: Any, blobs: list[bytes]) -> Any:
    if isinstance(data, dict):
        if data.get("_placeholder") is True:
            return blobs[data["num"]]
        return {k: _fill(v, blobs) for k, v in data.items()}
    if isinstance(data, list):
        return [_fill(v, blobs) for v in data]
    return data
