"""Socket.IO / engine.io limits that hold whatever a client sends.

python-socketio and python-engineio trust their peer in a few places. This module bounds
them at the narrowest point, on the server's own subclass and its own sockets (nothing is
patched process-wide):

- **Binary attachments.** A Socket.IO packet announces how many binary frames follow and
  python-socketio keeps each one until the count is reached. :class:`GuardedPacket` refuses
  more than :data:`MAX_ATTACHMENTS` (the protocol needs one: an image), and
  :meth:`GuardedSocketServer._handle_eio_message` counts the bytes of a pending packet
  against ``max_http_buffer_size``. A violation closes the connection (it is a transport
  error: the frames that follow can no longer be framed).
- **Malformed packets.** JSON that does not decode (deep nesting, 4,300+ digit integers) or
  an event that is not ``["name", ...]`` becomes the :data:`MALFORMED_EVENT` event, which the
  namespace answers ``bad_request``. Garbage below that (a bad packet type) closes the
  connection with an INFO line, never an ERROR traceback.
- **Sessions.** Every engine.io socket must finish its Socket.IO CONNECT within
  ``auth_timeout_s`` or is closed; sockets without a session are capped per client address
  and in all (:class:`PendingSockets`).
- **Freed sockets.** engine.io's ``disconnect(sid)`` waits for the socket's queue to drain,
  which a long-polling client that went away never does: the request and its socket were
  kept forever. :meth:`GuardedSocketServer._eio_disconnect` closes without waiting.
- **Long-polling requests** may carry up to 1,000 packets (engine.io drops a POST of more
  than 16 whole, while answering ok); **responses** carry at most ``max_polling_packets`` packets (python-socketio's
  client drops the connection beyond 16, python-engineio #142); the rest wait for the
  next poll.

The internals relied on are checked by :func:`check_internals` at import, so an upgrade
that moves them fails loudly instead of silently dropping a limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import engineio
import socketio
from engineio import exceptions as eio_exceptions
from engineio import payload as eio_payload
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from server.jsoncodec import InvalidJSON
from server.logsafe import safe

logger = logging.getLogger(__name__)

# the protocol sends at most one binary value per event (an image's data); an event with
# up to MAX_FRAMED_ATTACHMENTS is still read (bytes bounded) and answered bad_request, so
# the client keeps its connection; announcing more closes it
MAX_ATTACHMENTS = 1
MAX_FRAMED_ATTACHMENTS = 32
# the event names a malformed EVENT packet is delivered as; the namespace answers bad_request
MALFORMED_EVENT = "\x00malformed"
TOO_MANY_ATTACHMENTS_EVENT = "\x00attachments"

_PACKET_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)


def check_internals() -> None:
    """Fail loudly when python-socketio/engineio no longer have what this module relies on."""
    missing = [
        name
        for owner, name in (
            (socketio.AsyncServer, "_handle_eio_message"),
            (socketio.AsyncServer, "_handle_eio_connect"),
            (socketio.AsyncServer, "_handle_eio_disconnect"),
            (socketio.AsyncServer, "_handle_connect"),
            (socketio.AsyncServer, "_handle_disconnect"),
            (sio_packet.Packet, "decode"),
            (sio_packet.Packet, "add_attachment"),
            (eio_payload.Payload, "decode"),
            (AsyncSocket, "handle_get_request"),
            (AsyncSocket, "handle_post_request"),
            (AsyncSocket, "poll"),
            (engineio.AsyncServer, "disconnect"),
            (engineio.AsyncServer, "_log_error_once"),
        )
        if not callable(getattr(owner, name, None))
    ]
    server = socketio.AsyncServer(async_mode="aiohttp")
    if not isinstance(getattr(eio_payload.Payload, "max_decode_packets", None), int):
        missing.append("Payload.max_decode_packets")
    if not isinstance(getattr(server, "_binary_packet", None), dict):
        missing.append("AsyncServer._binary_packet")
    if missing:
        raise RuntimeError(
            "python-socketio/engineio internals changed; server.sio_guard needs: "
            + ", ".join(missing)
        )


class GuardedPacket(sio_packet.Packet):  # type: ignore[misc]
    """The server's packet class: bounded attachments, malformed payloads made answerable."""

    malformed = False
    too_many = False

    def add_attachment(self, attachment: Any) -> bool:
        done = bool(super().add_attachment(attachment))
        if done and self.too_many:
            self.attachments: list[Any] = []
            self.data = [TOO_MANY_ATTACHMENTS_EVENT]
        return done

    def decode(self, encoded_packet: Any) -> int:
        try:
            count = int(super().decode(encoded_packet))
        except InvalidJSON:
            # the header (type, namespace, id) decoded; only the JSON did not
            if self.packet_type != sio_packet.EVENT:
                raise
            self.malformed = True
            self.data = [MALFORMED_EVENT]
            return 0
        if count > MAX_FRAMED_ATTACHMENTS:
            raise ValueError(f"{count} binary attachments announced, at most {MAX_ATTACHMENTS}")
        self.too_many = count > MAX_ATTACHMENTS
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            data = self.data
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                if self.packet_type == sio_packet.BINARY_EVENT:
                    raise ValueError("a binary event must be a list starting with its name")
                self.malformed = True
                self.data = [MALFORMED_EVENT]
        return count


@dataclass
class TransportStats:
    """Counters and gauges of the transport limits, served by /metrics."""

    refused_per_ip: int = 0
    refused_total: int = 0
    auth_timeouts: int = 0
    malformed_packets: int = 0
    attachment_violations: int = 0
    oversize_bodies: int = 0
    body_timeouts: int = 0
    header_timeouts: int = 0
    pre_session_overruns: int = 0
    http_connections: int = 0
    http_connections_total: int = 0
    refused_connections_per_ip: int = 0


@dataclass
class _Pending:
    ip: str
    timer: asyncio.TimerHandle | None = None


@dataclass
class PendingSockets:
    """engine.io sockets that have no Socket.IO session yet, by client address."""

    by_sid: dict[str, _Pending] = field(default_factory=dict)
    by_ip: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.by_sid)

    def add(self, eio_sid: str, ip: str) -> _Pending:
        entry = _Pending(ip)
        self.by_sid[eio_sid] = entry
        self.by_ip[ip] += 1
        return entry

    def discard(self, eio_sid: str) -> None:
        entry = self.by_sid.pop(eio_sid, None)
        if entry is None:
            return
        if entry.timer is not None:
            entry.timer.cancel()
        self.by_ip[entry.ip] -= 1
        if self.by_ip[entry.ip] <= 0:
            del self.by_ip[entry.ip]


@dataclass
class GuardLimits:
    auth_timeout_s: float = 10.0
    max_unauthenticated_per_ip: int = 32
    max_unauthenticated: int = 512
    max_polling_packets: int = 16


class GuardedSocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's AsyncServer with the limits described in the module docstring."""

    def __init__(self, *args: Any, limits: GuardLimits | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", GuardedPacket)
        super().__init__(*args, **kwargs)
        self.limits = limits or GuardLimits()
        self.transport_stats = TransportStats()
        self.pending = PendingSockets()
        self._authenticating: set[str] = set()
        self._binary_bytes: dict[str, int] = {}
        # transports to abort when a socket is dropped (websockets), by engine.io sid
        self.ws_transports: dict[str, asyncio.Transport] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._eio_disconnect_stock = self.eio.disconnect
        self.eio.disconnect = self._eio_disconnect
        self.eio._log_error_once = self._eio_log_error_once

    # -- queries --------------------------------------------------------------------------------

    def session_up(self, eio_sid: str | None) -> bool:
        """Whether this engine.io socket has a connected Socket.IO session on ``/``."""
        if eio_sid is None:
            return False
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        return sid is not None and bool(self.manager.is_connected(sid, "/"))

    # -- engine.io events -----------------------------------------------------------------------

    def refuse_new(self, ip: str) -> bool:
        """Whether a new engine.io socket from ``ip`` is over a cap (counted if so).

        Checked by the HTTP middleware before engine.io builds anything for the handshake,
        and again here for handshakes that raced past it.
        """
        limits = self.limits
        if limits.max_unauthenticated and len(self.pending) >= limits.max_unauthenticated:
            self.transport_stats.refused_total += 1
            if self.transport_stats.refused_total % 1000 == 1:
                logger.warning(
                    "refusing connections: %d without a session (the cap; %d refused so far)",
                    len(self.pending),
                    self.transport_stats.refused_total,
                )
            return True
        per_ip = limits.max_unauthenticated_per_ip
        if per_ip and self.pending.by_ip[ip] >= per_ip:
            self.transport_stats.refused_per_ip += 1
            logger.debug("refused a connection from %s: %d without a session", safe(ip), per_ip)
            return True
        return False

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        request = environ.get("aiohttp.request")
        ip = str(getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "unknown")
        environ["REMOTE_ADDR"] = ip  # the driver hard-codes 127.0.0.1
        limits = self.limits
        if self.refuse_new(ip):
            return False
        await super()._handle_eio_connect(eio_sid, environ)
        entry = self.pending.add(eio_sid, ip)
        entry.timer = asyncio.get_running_loop().call_later(
            limits.auth_timeout_s, self._on_auth_deadline, eio_sid
        )
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            self._guard_socket(sock)
        if request is not None and request.headers.get("Upgrade", "").lower() == "websocket":
            if request.transport is not None:
                self.ws_transports[eio_sid] = request.transport
            budget = getattr(request.protocol, "ws_budget", None)
            if budget is not None:
                budget.eio_sid = eio_sid
        return None

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            pending = self._binary_packet.get(eio_sid)
            if pending is not None:
                size = self._binary_bytes.get(eio_sid, 0) + len(data)
                if size > self.eio.max_http_buffer_size:
                    self.transport_stats.attachment_violations += 1
                    raise ValueError(f"binary packet over {self.eio.max_http_buffer_size} bytes")
                self._binary_bytes[eio_sid] = size
            elif not isinstance(data, str):
                raise ValueError("a binary frame no packet announced")
            await super()._handle_eio_message(eio_sid, data)
            if eio_sid not in self._binary_packet:
                self._binary_bytes.pop(eio_sid, None)
            elif pending is None:  # a binary packet just started: its JSON counts too
                self._binary_bytes[eio_sid] = len(data)
        except _PACKET_ERRORS as exc:
            self.transport_stats.malformed_packets += 1
            if "attachments" in str(exc):
                self.transport_stats.attachment_violations += 1
            logger.info("closing %s after a malformed packet: %s", eio_sid, safe(str(exc)))
            self._binary_packet.pop(eio_sid, None)
            self._binary_bytes.pop(eio_sid, None)
            self.drop(eio_sid)

    async def _handle_connect(self, eio_sid: str, namespace: Any, data: Any) -> None:
        self._authenticating.add(eio_sid)
        try:
            await super()._handle_connect(eio_sid, namespace, data)
        finally:
            self._authenticating.discard(eio_sid)
        if self.session_up(eio_sid):
            self.pending.discard(eio_sid)

    async def _handle_disconnect(self, eio_sid: str, namespace: Any, reason: Any = None) -> None:
        await super()._handle_disconnect(eio_sid, namespace, reason)
        sock = self.eio.sockets.get(eio_sid)
        # a client that left the namespace but kept its transport gets a deadline again
        if sock is not None and not sock.closed and not sock.closing:
            if eio_sid not in self.pending.by_sid and not self.session_up(eio_sid):
                ip = str(self.environ.get(eio_sid, {}).get("REMOTE_ADDR", "unknown"))
                entry = self.pending.add(eio_sid, ip)
                entry.timer = asyncio.get_running_loop().call_later(
                    self.limits.auth_timeout_s, self._on_auth_deadline, eio_sid
                )

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        try:
            await super()._handle_eio_disconnect(eio_sid, reason)
        finally:
            self.pending.discard(eio_sid)
            self._binary_bytes.pop(eio_sid, None)
            self.ws_transports.pop(eio_sid, None)

    # -- dropping sockets -----------------------------------------------------------------------

    def _on_auth_deadline(self, eio_sid: str) -> None:
        entry = self.pending.by_sid.get(eio_sid)
        if entry is None:
            return
        if eio_sid in self._authenticating:  # still checking a password: look again later
            entry.timer = asyncio.get_running_loop().call_later(
                self.limits.auth_timeout_s, self._on_auth_deadline, eio_sid
            )
            return
        entry.timer = None
        self.transport_stats.auth_timeouts += 1
        logger.info(
            "closing %s from %s: no session within %.0f s",
            eio_sid,
            safe(entry.ip),
            self.limits.auth_timeout_s,
        )
        self.pending.discard(eio_sid)
        self.drop(eio_sid)

    def drop(self, eio_sid: str) -> None:
        """Close an engine.io socket now and free it (from a callback: runs as a task)."""
        task = asyncio.ensure_future(self._drop(eio_sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop(self, eio_sid: str) -> None:
        sock = self.eio.sockets.get(eio_sid)
        transport = self.ws_transports.pop(eio_sid, None)
        if sock is not None:
            try:
                await sock.close(wait=False, abort=True, reason=self.eio.reason.TRANSPORT_ERROR)
            except Exception:
                logger.exception("closing engine.io socket %s failed", eio_sid)
            sock.queue.put_nowait(None)  # ends a waiting long-poll or the websocket writer
            self.eio.sockets.pop(eio_sid, None)
        if transport is not None and not transport.is_closing():
            transport.abort()

    async def _eio_disconnect(self, sid: str | None = None) -> None:
        """engine.io's ``disconnect`` without waiting for a queue nobody may ever drain."""
        if sid is None:
            await self._eio_disconnect_stock()
            return
        sock = self.eio.sockets.get(sid)
        if sock is None:
            return
        await sock.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
        sock.queue.put_nowait(None)
        self.eio.sockets.pop(sid, None)

    def _eio_log_error_once(self, message: str, message_key: str) -> None:
        # engine.io logs a client's bad request (unknown sid, bad transport) at ERROR with
        # the client's own text in it: a client mistake, and a line it could forge
        logger.info("engine.io refused a request: %s", safe(message))

    # -- per-socket hooks -----------------------------------------------------------------------

    def _guard_socket(self, sock: AsyncSocket) -> None:
        """Wrap this socket's POST handling and polling; instance attributes, not a subclass."""
        stock_get = sock.handle_get_request
        limit = self.limits.max_polling_packets

        async def handle_post_request(environ: dict[str, Any]) -> None:
            try:
                # engine.io's own, with a server-side packet count (the body's size is
                # already bounded by server.transport_guard before engine.io sees it)
                body = (await environ["wsgi.input"].read()).decode("utf-8")
                for pkt in _PostPayload(encoded_payload=body).packets:
                    await sock.receive(pkt)
            except eio_exceptions.EngineIOError:
                raise
            except _PACKET_ERRORS as exc:
                # a payload engine.io cannot decode: engine.io would log a traceback and
                # answer ok; it is the client's mistake, so close the session instead
                self.transport_stats.malformed_packets += 1
                logger.info("closing %s after a malformed payload: %s", sock.sid, safe(str(exc)))
                raise eio_exceptions.EngineIOError() from None

        async def handle_get_request(environ: dict[str, Any]) -> Any:
            upgrade = environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            if upgrade or sock.upgrading or sock.upgraded or "poll" in vars(sock):
                return await stock_get(environ)
            try:
                return await poll_at_most(sock, limit)
            except eio_exceptions.QueueEmpty:
                await sock.close(wait=False, reason=self.eio.reason.TRANSPORT_ERROR)
                raise

        stock_receive = sock.receive

        async def receive(pkt: Any) -> None:
            try:
                await stock_receive(pkt)
            except eio_exceptions.EngineIOError:
                raise
            except _PACKET_ERRORS as exc:
                # e.g. an unknown packet type: engine.io would log a traceback per frame
                self.transport_stats.malformed_packets += 1
                logger.info("closing %s after a malformed packet: %s", sock.sid, safe(repr(exc)))
                self.drop(sock.sid)
                raise eio_exceptions.SocketIsClosedError() from None

        sock.receive = receive  # type: ignore[method-assign]
        sock.handle_post_request = handle_post_request  # type: ignore[method-assign]
        sock.handle_get_request = handle_get_request  # type: ignore[method-assign]


class _PostPayload(eio_payload.Payload):  # type: ignore[misc]
    """A polling POST's payload. engine.io's ``Payload`` refuses more than 16 packets (a
    class attribute shared with the client, where python-engineio #142 needs it), and the
    stock server then drops the whole POST while answering ok: a python-socketio polling
    client that emitted 17 events at once lost all of them."""

    max_decode_packets = 1000


async def poll_at_most(sock: AsyncSocket, limit: int) -> list[Any]:
    """engine.io's ``AsyncSocket.poll``, but at most ``limit`` packets per response."""
    server = sock.server
    try:
        first = await asyncio.wait_for(sock.queue.get(), server.ping_interval + server.ping_timeout)
        sock.queue.task_done()
    except (TimeoutError, asyncio.CancelledError):
        raise eio_exceptions.QueueEmpty() from None
    if first is None:
        return []
    packets = [first]
    while len(packets) < limit:
        try:
            pkt = sock.queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        sock.queue.task_done()
        if pkt is None:
            sock.queue.put_nowait(None)
            break
        packets.append(pkt)
    return packets

check_internals()
