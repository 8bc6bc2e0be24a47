"""A stock python-socketio client for the cluster tests: records events, reconnects, catches up.

It logs in with a password once and resumes with the session token afterwards (what the
desktop does), so reconnect storms do not count against login limits. Calls in flight
when the connection drops fail at once with ``ConnectionLost`` (python-socketio would
leave them waiting for a timeout), and ``send_until_acked`` resends the same
``client_id`` after a reconnect, as the protocol asks clients to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import socketio

PASSWORD = "correct horse battery"
CALL_TIMEOUT_S = 15.0
WAIT_TIMEOUT_S = 30.0

_addresses = itertools.count(1)


class ConnectionLost(Exception):
    """The connection dropped while a call was waiting for its ack."""


def fake_client_address() -> str:
    """A distinct client address for X-Forwarded-For (the nodes trust the loopback proxy).

    Every test client comes from 127.0.0.1; without this, per-address login limits would
    treat a whole test run as one abusive client.
    """
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class ClusterClient:
    """One user's connection, to a node or through the load balancer."""

    def __init__(self, url: str, username: str, *, transports: list[str] | None = None,
                 reconnect: bool = False) -> None:
        self.url = url
        self.username = username
        self.transports = transports or ["websocket"]
        self.sio = socketio.AsyncClient(
            reconnection=reconnect, reconnection_delay=0.2, reconnection_delay_max=1.0,
            randomization_factor=0.2,
        )
        self.token: str | None = None
        self.events: list[tuple[str, Any]] = []
        self.sessions = 0  # how many `session` events (1 + reconnects)
        self.disconnects = 0
        self._changed = asyncio.Condition()
        self._lost = asyncio.Event()
        self.headers = {"X-Forwarded-For": fake_client_address()}
        self.sio.on("*", self._on_any)
        self.sio.on("disconnect", self._on_disconnect)

    async def _on_any(self, event: str, *args: Any) -> None:
        data = args[0] if args else None
        if event == "session" and isinstance(data, dict):
            self.token = str(data["token"])
            self.sessions += 1
            self._lost.clear()
        async with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    async def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnects += 1
        self._lost.set()
        async with self._changed:
            self._changed.notify_all()

    def _auth(self) -> dict[str, str]:
        if self.token is not None:
            return {"token": self.token}
        return {"username": self.username, "password": PASSWORD}

    async def connect(self) -> ClusterClient:
        before = self.sessions
        await self.sio.connect(self.url, auth=self._auth, transports=self.transports,
                               headers=self.headers, wait_timeout=CALL_TIMEOUT_S)
        async with asyncio.timeout(WAIT_TIMEOUT_S):
            async with self._changed:
                await self._changed.wait_for(lambda: self.sessions > before)
        return self

    async def disconnect(self) -> None:
        """Disconnect, and stop reconnecting (``shutdown`` also ends a reconnect loop)."""
        with contextlib.suppress(Exception):
            await self.sio.shutdown()

    @property
    def connected(self) -> bool:
        return self.sio.connected and not self._lost.is_set()

    # -- calls ------------------------------------------------------------------------------

    async def call(self, event: str, payload: Any = None,
                   timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
        """The ack; ``ConnectionLost`` when the connection drops first."""
        if self._lost.is_set() or not self.sio.connected:
            raise ConnectionLost(event)
        call = asyncio.ensure_future(self.sio.call(event, payload or {}, timeout=timeout))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if call not in done:
            call.cancel()
            raise ConnectionLost(event)
        try:
            result = call.result()
        except socketio.exceptions.BadNamespaceError as exc:
            raise ConnectionLost(event) from exc
        assert isinstance(result, dict), result
        return result

    async def ok(self, event: str, payload: Any = None) -> dict[str, Any]:
        ack = await self.call(event, payload)
        assert ack.get("ok") is True, (event, payload, ack)
        return ack

    async def error(self, event: str, payload: Any = None) -> str:
        ack = await self.call(event, payload)
        assert ack.get("ok") is False, (event, payload, ack)
        assert ack["error"]["message"], ack
        return str(ack["error"]["code"])

    async def send(self, room: str, text: str, client_id: str | None = None) -> dict[str, Any]:
        ack = await self.ok("message:send", {"room": room, "text": text,
                                             "client_id": client_id or str(uuid.uuid4())})
        return dict(ack["message"])

    async def wait_connected(self, timeout: float = WAIT_TIMEOUT_S) -> None:
        """Until a fresh session is up (after a reconnect)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: self.sio.connected
                                             and not self._lost.is_set())

    async def send_until_acked(self, room: str, text: str, client_id: str,
                               attempts: int = 20) -> dict[str, Any]:
        """Send; on a dropped connection or an ``internal`` ack, reconnect and resend it."""
        last: Any = None
        for _ in range(attempts):
            try:
                await self.wait_connected()
                ack = await self.call("message:send",
                                      {"room": room, "text": text, "client_id": client_id})
            except (ConnectionLost, TimeoutError, socketio.exceptions.SocketIOError) as exc:
                last = exc
                continue
            if ack.get("ok"):
                return dict(ack["message"])
            last = ack
            if ack["error"]["code"] not in ("internal", "rate_limited"):
                break
            async with self._changed:  # a retryable refusal: wait for anything to change
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._changed.wait()
        raise AssertionError(f"{self.username}: {client_id} never acked: {last!r}")

    # -- received events ----------------------------------------------------------------------

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, event: str, predicate: Callable[[Any], bool] | None = None,
                       timeout: float = WAIT_TIMEOUT_S, count: int | None = None) -> Any:
        """The first ``event`` matching ``predicate`` (or the ``count``-th one), waiting for it."""

        def find() -> Any:
            matches = [d for d in self.received(event) if predicate is None or predicate(d)]
            need = count or 1
            return matches[need - 1] if len(matches) >= need else None

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: find() is not None)
        return find()

    async def changes_since(self, room: str, since: int = 0) -> list[dict[str, Any]]:
        """Every change after ``since`` (``message:changes`` while ``has_more``)."""
        out: list[dict[str, Any]] = []
        while True:
            ack = await self.ok("message:changes", {"room": room, "since": since, "limit": 100})
            out.extend(ack["messages"])
            if not ack["messages"] or not ack["has_more"]:
                return out
            since = max(m["seq"] for m in ack["messages"])
