"""Outbound bytes for engine.io sockets: one ordered, bounded writer per socket.

python-engineio's websocket writer is a task per socket that wakes per packet
(``wait_for(queue.get())``), and its aiohttp driver writes one frame per ``send`` through a
``WebSocketResponse`` that negotiates permessage-deflate whenever the client offers it (the
official socket.io-client does), deflating every frame separately for every recipient.
This module replaces the outbound half and keeps the rest of engine.io: its reader, pings,
upgrade handshake and polling transport are unchanged.

- :class:`EngineServer` (an ``engineio.AsyncServer``) gives every socket an
  :class:`OutboundQueue` and uses :class:`NoDeflateWebSocket` as its websocket driver.
- :class:`NoDeflateWebSocket` never negotiates permessage-deflate. (A future option, not
  taken: deflate a broadcast once and send the same compressed frame to every recipient
  that negotiated ``no_context_takeover``.)
- :class:`SocketWriter` owns a websocket-upgraded socket's outbound bytes. Frames are built
  here (server frames are unmasked, so a broadcast's frame is the same bytes for every
  recipient and is built once), appended to ``pending`` and written with one
  ``transport.writelines`` per socket per event-loop turn (:class:`Flusher`).

Order invariant. At every moment a socket has exactly one outbound FIFO: the
``OutboundQueue``'s deque before its writer attaches (engine.io's polling ``poll`` consumes
it), the writer's ``pending`` list after. Attaching is one synchronous step (no ``await``):
it moves every queued packet into ``pending`` in queue order, then switches the queue to
pass-through. From then on every producer -- engine.io's ``send`` (acks, pings, CLOSE),
python-socketio's emits, and the room fast path -- appends its frame to ``pending``
synchronously, at the moment it produces it; ``pending`` leaves only through
``transport.write`` in list order with no ``await`` between taking and writing. No code
holds a dequeued packet across an ``await``: engine.io's own writer task no longer
dequeues anything (its ``poll`` is replaced by a wait for the end of the socket, see
:meth:`NoDeflateWebSocket.poll`), so "the queue is empty" is never needed as an ordering
argument. Hence everything written to a socket leaves in the order it was produced.
(Only aiohttp itself writes around ``pending``: the handshake's ``3probe`` before the writer
attaches, control frames such as pongs, which RFC 6455 lets interleave, and the close
frame, which :meth:`NoDeflateWebSocket.close` sends after flushing ``pending``.)

Backpressure. Each socket has a byte budget: queued bytes (``pending`` plus the transport's
write buffer, or the polling queue's encoded size) may never exceed it. A frame that would
pass it disconnects the socket instead (the transport is aborted, or a polling socket is
closed with a CLOSE packet), logged and counted in :class:`OutboundStats` (``/metrics``).
The client reconnects and catches up from history, so memory stays bounded whatever a slow
client does. The budget must be at least the largest single reply (a history page).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import engineio
from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket

from server import protocol
from server.config import ServerConfig

logger = logging.getLogger(__name__)

OP_TEXT = 0x1
OP_BINARY = 0x2
_FIN = 0x80
_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack
# below this a header and payload are joined (one buffer); above, written as two parts
_JOIN_BELOW = 64 * 1024

DEFAULT_BUDGET_BYTES = 8 * 1024 * 1024
# a thumbnail is at most THUMB_MAX_SIDE^2 RGBA pixels as PNG (incompressible worst case)
_THUMB_BOUND = protocol.THUMB_MAX_SIDE * protocol.THUMB_MAX_SIDE * 4 + 4096
_MESSAGE_OVERHEAD = 2048  # ids, names, timestamps, receipts, JSON punctuation


def outbound_budget(config: ServerConfig) -> int:
    """The per-socket byte budget: the configured one, but never below the largest reply.

    The largest single reply is a full history page of maximal messages (text as UTF-8 plus
    a thumbnail each); a budget below it would disconnect a healthy client on its first
    catch-up.
    """
    per_message = config.max_text_chars * 4 + _THUMB_BOUND + _MESSAGE_OVERHEAD
    return max(config.outbound_budget_bytes, config.history_limit * per_message)


# --------------------------------------------------------------------------- frames


def frame_parts(payload: bytes, opcode: int) -> tuple[bytes, ...]:
    """An unmasked, final, uncompressed websocket frame (RFC 6455 5.2) as byte strings."""
    n = len(payload)
    if n < 126:
        header = _LEN1(_FIN | opcode, n)
    elif n < 65536:
        header = _LEN2(_FIN | opcode, 126, n)
    else:
        header = _LEN3(_FIN | opcode, 127, n)
    if n < _JOIN_BELOW:
        return (header + payload,)
    return (header, payload)


def frame(payload: bytes, opcode: int) -> bytes:
    """The frame as one byte string (what aiohttp's writer puts on the wire)."""
    return b"".join(frame_parts(payload, opcode))


def packet_frame(pkt: eio_packet.Packet) -> tuple[bytes, ...]:
    """The websocket frame of one engine.io packet, as the stock driver would send it.

    Binary packets are framed from ``pkt.data``, not ``pkt.encode()``: engine.io caches the
    first encoding, and a polling recipient of the same packet needs the base64 form.
    """
    if pkt.binary:
        return frame_parts(bytes(pkt.data), OP_BINARY)
    return frame_parts(pkt.encode().encode("utf-8"), OP_TEXT)


def parts_size(parts: Iterable[bytes]) -> int:
    return sum(len(p) for p in parts)


# --------------------------------------------------------------------------- accounting


@dataclass
class OutboundStats:
    """Counters for ``/metrics``: clients disconnected for not reading fast enough."""

    slow_disconnects_websocket: int = 0
    slow_disconnects_polling: int = 0


def _queued_size(item: Any) -> int:
    """Bytes a packet takes on a polling response (binary goes as base64)."""
    if item is None:
        return 0
    if item.binary:
        return (len(item.data) + 2) // 3 * 4 + 2
    return len(item.encode()) + 1


class Flusher:
    """Writes every socket with pending bytes once per event-loop turn."""

    def __init__(self) -> None:
        self._dirty: list[SocketWriter] = []
        self._scheduled = False

    def schedule(self, writer: SocketWriter) -> None:
        self._dirty.append(writer)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush_all)

    def flush_all(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for writer in dirty:
            writer.flush()


class SocketWriter:
    """The outbound bytes of one websocket-upgraded engine.io socket (see module docstring)."""

    def __init__(
        self,
        sock: AsyncSocket,
        transport: asyncio.Transport,
        budget: int,
        stats: OutboundStats,
        flusher: Flusher,
    ) -> None:
        self.sock = sock
        self.transport = transport
        self.budget = budget
        self.stats = stats
        self.flusher = flusher
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.ended = asyncio.Event()
        self.overflowed = False
        self._dirty = False

    @property
    def queued_bytes(self) -> int:
        """Bytes produced for this socket and not yet taken by the kernel."""
        return self.pending_bytes + self.transport.get_write_buffer_size()

    def put(self, item: eio_packet.Packet | None) -> None:
        """A packet from engine.io's queue API (``None`` ends the socket)."""
        if item is None:
            self.end()
            return
        parts = packet_frame(item)
        self.append(parts, parts_size(parts))

    def append(self, parts: tuple[bytes, ...], size: int) -> None:
        """Queue a pre-built frame; it is written on this loop turn's flush."""
        if self.ended.is_set():
            return
        if self.queued_bytes + size > self.budget:
            self._overflow(size)
            return
        self.pending.extend(parts)
        self.pending_bytes += size
        if not self._dirty:
            self._dirty = True
            self.flusher.schedule(self)

    def flush(self) -> None:
        self._dirty = False
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self.pending_bytes = 0
        if not self.transport.is_closing():
            self.transport.writelines(pending)

    def end(self) -> None:
        """Write what is pending and accept nothing more."""
        self.flush()
        self.ended.set()

    def _overflow(self, size: int) -> None:
        self.overflowed = True
        self.stats.slow_disconnects_websocket += 1
        logger.warning(
            "%s: client is not reading (%d bytes queued, %d more, budget %d); disconnecting",
            self.sock.sid,
            self.queued_bytes,
            size,
            self.budget,
        )
        self.pending = []
        self.pending_bytes = 0
        self.ended.set()
        # the reader sees the connection drop, engine.io closes the socket as for any
        # transport loss, and the client reconnects and catches up from history
        self.transport.abort()


class OutboundQueue(asyncio.Queue):  # type: ignore[type-arg]
    """engine.io's per-socket queue, bounded in bytes, that can hand over to a writer.

    Until :meth:`attach`, it is the queue engine.io's polling transport reads (with the
    polling payload size counted against the budget); after, every put goes straight to the
    socket's :class:`SocketWriter`.
    """

    def __init__(self, server: EngineServer) -> None:
        super().__init__()
        self.server = server
        self.writer: SocketWriter | None = None
        self.queued_bytes = 0
        self.overflowed = False

    def put_nowait(self, item: Any) -> None:
        if self.writer is not None:
            self.writer.put(item)
            return
        if self.overflowed:
            if item is None:
                super().put_nowait(item)
            return
        size = _queued_size(item)
        if item is not None and self.queued_bytes + size > self.server.outbound_budget:
            self._overflow(size)
            return
        self.queued_bytes += size
        super().put_nowait(item)

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        if item is not None and not self.overflowed:
            self.queued_bytes = max(0, self.queued_bytes - _queued_size(item))
        return item

    async def join(self) -> None:
        if self.writer is None:
            await super().join()
        # a writer writes on this loop turn's flush: nothing is left to wait for after it
        else:
            self.writer.flush()

    def attach(self, writer: SocketWriter) -> None:
        """Move every queued packet into ``writer`` in order, then pass through (no await)."""
        while True:
            try:
                item = super().get_nowait()
            except asyncio.QueueEmpty:
                break
            self.task_done()
            writer.put(item)
        self.queued_bytes = 0
        self.writer = writer

    def _overflow(self, size: int) -> None:
        sock = next((s for s in self.server.sockets.values() if s.queue is self), None)
        self.overflowed = True
        self.server.outbound_stats.slow_disconnects_polling += 1
        logger.warning(
            "%s: polling client is not fetching (%d bytes queued, %d more, budget %d); "
            "disconnecting",
            sock.sid if sock is not None else "?",
            self.queued_bytes,
            size,
            self.server.outbound_budget,
        )
        while True:
            try:
                super().get_nowait()
            except asyncio.QueueEmpty:
                break
            self.task_done()
        self.queued_bytes = 0
        # the client's next poll sees CLOSE and reconnects; None ends a waiting long-poll
        super().put_nowait(eio_packet.Packet(eio_packet.CLOSE))
        super().put_nowait(None)
        if sock is not None and not sock.closed:
            task = asyncio.ensure_future(
                sock.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
            )
            self.server.close_tasks.add(task)
            task.add_done_callback(self.server.close_tasks.discard)


# --------------------------------------------------------------------------- driver


class NoDeflateWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket driver without permessage-deflate, with our writer.

    engine.io's handler keeps its reader loop and upgrade handshake; its writer task calls
    ``sock.poll()``, which this driver answers (per socket instance) with :meth:`poll`.
    """

    server: EngineServer

    async def __call__(self, environ: dict[str, Any]) -> web.StreamResponse:
        request: web.Request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        self.eio_socket: AsyncSocket | None = getattr(self.handler, "__self__", None)
        self.writer: SocketWriter | None = None
        transport = request.transport
        sock = self.eio_socket
        if sock is not None and isinstance(sock.queue, OutboundQueue) and transport is not None:
            self.writer = SocketWriter(
                sock,
                transport,  # type: ignore[arg-type]
                self.server.outbound_budget,
                self.server.outbound_stats,
                self.server.flusher,
            )
            sock.poll = self.poll  # type: ignore[method-assign]
        try:
            await self.handler(self)
        finally:
            if sock is not None and self.writer is not None and "poll" in vars(sock):
                del sock.poll
                if sock.queue.writer is self.writer:
                    self.writer.end()
        return self._sock

    async def poll(self) -> list[eio_packet.Packet]:
        """engine.io's ``poll`` for this socket while this driver serves it.

        Before the upgrade completes, polling requests still read the queue as before.
        Once upgraded (engine.io's writer task is the only caller), attach the writer and
        wait for the socket to end; ``[]`` makes engine.io's writer close the websocket.
        """
        sock = self.eio_socket
        assert sock is not None and self.writer is not None
        if not sock.upgraded:
            packets: list[eio_packet.Packet] = await AsyncSocket.poll(sock)
            return packets
        queue = sock.queue
        assert isinstance(queue, OutboundQueue)
        if queue.writer is None:
            queue.attach(self.writer)
        await self.writer.ended.wait()
        return []

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.end()
        try:
            await self._sock.close()
        except (ConnectionError, RuntimeError) as exc:  # an aborted (slow) client
            logger.debug("websocket close after the transport went: %r", exc)


class EngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server with :class:`OutboundQueue` sockets and :class:`NoDeflateWebSocket`."""

    _async: dict[str, Any]
    outbound_budget: int
    outbound_stats: OutboundStats
    flusher: Flusher
    close_tasks: set[asyncio.Task[Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async = {**self._async, "websocket": NoDeflateWebSocket}
        self.outbound_budget = DEFAULT_BUDGET_BYTES
        self.outbound_stats = OutboundStats()
        self.flusher = Flusher()
        self.close_tasks = set()

    def create_queue(self, *args: Any, **kwargs: Any) -> OutboundQueue:
        return OutboundQueue(self)

    def outbound_queued_bytes(self) -> int:
        """Bytes queued for all sockets (polling queues, pending frames, transport buffers)."""
        total = 0
        for sock in list(self.sockets.values()):
            queue = sock.queue
            if isinstance(queue, OutboundQueue):
                total += queue.writer.queued_bytes if queue.writer else queue.queued_bytes
        return total


def outbound_metrics(eio: Any) -> list[str]:
    """``/metrics`` lines: slow-client disconnects by transport and bytes queued now."""
    if not isinstance(eio, EngineServer):
        return []
    stats = eio.outbound_stats
    return [
        "# HELP parley_slow_client_disconnects_total Connections dropped for passing their "
        "outbound byte budget (the client was not reading), by transport.",
        "# TYPE parley_slow_client_disconnects_total counter",
        f'parley_slow_client_disconnects_total{{transport="websocket"}} '
        f"{stats.slow_disconnects_websocket}",
        f'parley_slow_client_disconnects_total{{transport="polling"}} '
        f"{stats.slow_disconnects_polling}",
        "# HELP parley_outbound_queued_bytes Bytes produced for clients and not yet taken by "
        "the kernel, all connections.",
        "# TYPE parley_outbound_queued_bytes gauge",
        f"parley_outbound_queued_bytes {eio.outbound_queued_bytes()}",
        "# HELP parley_outbound_budget_bytes Outbound byte budget of each connection.",
        "# TYPE parley_outbound_budget_bytes gauge",
        f"parley_outbound_budget_bytes {eio.outbound_budget}",
    ]
