"""A recording python-socketio client for the server integration tests.

Every server-to-client event is kept in order, and tests await conditions on that record
(`wait_for`) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import socketio

from server.protocol import Event

PASSWORD = "correct horse battery"
TIMEOUT = 10.0


@dataclass
class Received:
    event: str
    data: Any


@dataclass
class ChatTestClient:
    url: str
    transports: list[str]
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False)
    )
    events: list[Received] = field(default_factory=list)
    connect_error: Any = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self.sio.on("*", self._on_any)
        self.sio.on("connect_error", self._on_connect_error)

    async def _on_any(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.events.append(Received(event, args[0] if args else None))
            self._changed.notify_all()

    async def _on_connect_error(self, data: Any = None) -> None:
        self.connect_error = data

    async def connect(self, auth: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        await self.sio.connect(
            self.url,
            auth=auth,
            transports=self.transports,
            headers=headers or {},
            wait_timeout=TIMEOUT,
        )

    async def disconnect(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def call(self, event: str, payload: Any = None, **kw: Any) -> dict[str, Any]:
        data = payload if payload is not None else {}
        result = await self.sio.call(event, data, timeout=TIMEOUT, **kw)
        assert isinstance(result, dict), result
        return result

    async def ok(self, event: str, payload: Any = None) -> dict[str, Any]:
        """Call and insist on a success ack."""
        ack = await self.call(event, payload)
        assert ack.get("ok") is True, ack
        return ack

    async def error(self, event: str, payload: Any = None) -> str:
        """Call and return the error code of a failure ack."""
        ack = await self.call(event, payload)
        assert ack.get("ok") is False, ack
        assert set(ack["error"]) == {"code", "message"} and ack["error"]["message"], ack
        return str(ack["error"]["code"])

    def received(self, event: str) -> list[Any]:
        return [r.data for r in self.events if r.event == event]

    async def wait_for(self, event: str, predicate: Any = None, timeout: float = TIMEOUT) -> Any:
        """The first recorded ``event`` whose data satisfies ``predicate`` (waits for it)."""

        def find() -> Any:
            for r in self.events:
                if r.event == event and (predicate is None or predicate(r.data)):
                    return r
            return None

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found.data

    @property
    def session(self) -> dict[str, Any]:
        return self.received(Event.SESSION)[0]

    async def send(self, room: str, text: str, client_id: str | None = None) -> dict[str, Any]:
        ack = await self.ok(
            Event.MESSAGE_SEND,
            {"room": room, "text": text, "client_id": client_id or str(uuid.uuid4())},
        )
        return ack["message"]
