"""HTTP-level limits: per-route body sizes, header and body read deadlines, pre-session bytes.

aiohttp applies one ``client_max_size`` to every route and waits for headers and bodies as
long as the peer likes. Here:

- :func:`transport_middleware` gives each route its own body limit (``max_json_body_bytes``
  for the JSON API; ``max_http_buffer_size`` for Socket.IO long-polling once the session is
  up, ``pre_session_bytes`` before) and reads the body within ``body_timeout_s``, answering
  413/408 before any handler (or engine.io) sees it. It also refuses engine.io requests for
  unknown or closed sessions itself, so engine.io never logs them.
- :class:`GuardedRequestHandler` closes a connection whose request headers have not arrived
  within ``header_timeout_s``, counts connections, and caps what a websocket may send before
  its Socket.IO session is up (:class:`WsBudget`): a frame larger than that never gets
  buffered.
- :class:`GuardedTCPSite` makes the listening socket create those handlers.
- :func:`raise_fd_limit` lifts the soft open-files limit to the hard one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from server.config import ServerConfig
from server.logsafe import safe
from server.protocol import ErrorCode
from server.sio_guard import GuardedSocketServer, TransportStats

logger = logging.getLogger(__name__)

ENGINEIO_PATH = "/socket.io/"
# routes that stream their body themselves, with their own size limit and idle deadline
# (server.http_media: uploads up to max_file_bytes go to disk, never into memory)
STREAMED_PATHS = frozenset({"/api/media"})
# engine.io session ids are 20 URL-safe base64 characters
_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class TransportLimits:
    """What the middleware and the request handlers enforce, taken from ServerConfig."""

    json_body_bytes: int
    pre_session_bytes: int
    buffer_bytes: int
    header_timeout_s: float
    body_timeout_s: float
    max_connections_per_ip: int = 0

    @classmethod
    def from_config(cls, config: ServerConfig, buffer_bytes: int) -> TransportLimits:
        return cls(
            json_body_bytes=config.max_json_body_bytes,
            pre_session_bytes=config.pre_session_bytes,
            buffer_bytes=buffer_bytes,
            header_timeout_s=config.header_timeout_s,
            body_timeout_s=config.body_timeout_s,
            max_connections_per_ip=config.max_connections_per_ip,
        )


@dataclass
class TransportGuard:
    limits: TransportLimits
    sio: GuardedSocketServer
    # open TCP connections per peer address (only kept when max_connections_per_ip is set)
    by_peer: Counter[str] = field(default_factory=Counter)

    @property
    def stats(self) -> TransportStats:
        return self.sio.transport_stats


GUARD_KEY: web.AppKey[TransportGuard] = web.AppKey("transport_guard", TransportGuard)


class WsBudget:
    """Bytes a websocket may send until its Socket.IO session is up."""

    def __init__(self, sio: GuardedSocketServer, limit: int, eio_sid: str | None) -> None:
        self.sio = sio
        self.limit = limit
        self.eio_sid = eio_sid
        self.received = 0
        self.open = False

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes; False when they pass the budget (close the connection)."""
        if self.open:
            return True
        if self.sio.session_up(self.eio_sid):
            self.open = True
            return True
        self.received += size
        return self.received <= self.limit


class GuardedRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol with a header deadline and a pre-session budget."""

    def __init__(self, server: web.Server, *, guard: TransportGuard, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self.guard = guard
        self.ws_budget: WsBudget | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._busy = 0
        self._counted = False
        self._peer: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cap = self.guard.limits.max_connections_per_ip
        if cap:
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
            if self.guard.by_peer[ip] >= cap:
                # cut before a byte is parsed: a connection flood costs an accept and a close
                self.guard.stats.refused_connections_per_ip += 1
                # uvloop's transports have abort() but are not asyncio.Transport instances
                getattr(transport, "abort", transport.close)()
                return
            self.guard.by_peer[ip] += 1
            self._peer = ip
        super().connection_made(transport)
        self._counted = True
        self.guard.stats.http_connections += 1
        self.guard.stats.http_connections_total += 1
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._peer is not None:
            self.guard.by_peer[self._peer] -= 1
            if self.guard.by_peer[self._peer] <= 0:
                del self.guard.by_peer[self._peer]
            self._peer = None
        if not self._counted:
            return  # refused in connection_made: aiohttp never saw it
        self._counted = False
        self.guard.stats.http_connections -= 1
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        budget = self.ws_budget
        if budget is not None:
            if not budget.take(len(data)):
                self.guard.stats.pre_session_overruns += 1
                logger.info(
                    "closing a websocket that sent %d bytes before its session (limit %d)",
                    budget.received,
                    budget.limit,
                )
                self.ws_budget = None
                if self.transport is not None:
                    self.transport.abort()
                return
        elif self._busy == 0 and self._header_timer is None:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)

    def request_started(self) -> None:
        self._busy += 1
        self._disarm()

    def request_finished(self) -> None:
        self._busy -= 1

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(
            self.guard.limits.header_timeout_s, self._on_header_timeout
        )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._busy or self.transport is None:
            return
        self.guard.stats.header_timeouts += 1
        logger.debug("closing a connection whose request headers did not arrive in time")
        transport = self.transport
        self.force_close()
        transport.close()


class GuardedTCPSite(web.TCPSite):
    """``web.TCPSite`` whose connections are :class:`GuardedRequestHandler`\\ s."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, guard: TransportGuard,
                 **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        # what web.Server.__call__ does, with our handler class
        handler_kwargs = dict(server._kwargs)
        guard = self._guard

        def factory() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, guard=guard, loop=server._loop, **handler_kwargs)

        self._server = await loop.create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class BodyTooLarge(Exception):
    pass


async def read_body(request: web.Request, limit: int, timeout: float) -> web.Request:
    """A clone of ``request`` whose body (at most ``limit`` bytes) is read and cached.

    Raises :class:`BodyTooLarge` before reading when Content-Length says so, or as soon as a
    chunked body passes the limit; ``TimeoutError`` when it does not arrive within
    ``timeout``.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge()
    clone = request.clone(client_max_size=limit)
    try:
        async with asyncio.timeout(timeout):
            await clone.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge() from None
    return clone


def _refusal(status: int, text: str, code: ErrorCode | None = None) -> web.Response:
    """A refusal sent with ``Connection: close``: the rest of the body is never read."""
    if code is None:
        resp = web.Response(status=status, text=text)
    else:
        resp = web.json_response({"error": {"code": str(code), "message": text}}, status=status)
    resp.force_close()
    return resp


@web.middleware
async def transport_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    guard = request.app[GUARD_KEY]
    protocol = request.protocol
    guarded = protocol if isinstance(protocol, GuardedRequestHandler) else None
    if guarded is not None:
        guarded.request_started()
    try:
        if request.path == ENGINEIO_PATH:
            return await _engineio_request(request, handler, guard, guarded)
        if request.body_exists and request.path not in STREAMED_PATHS:
            try:
                request = await read_body(
                    request, guard.limits.json_body_bytes, guard.limits.body_timeout_s
                )
            except BodyTooLarge:
                guard.stats.oversize_bodies += 1
                return _refusal(
                    413,
                    f"A request body here is at most {guard.limits.json_body_bytes // 1024} KiB.",
                    ErrorCode.TOO_LARGE,
                )
            except TimeoutError:
                guard.stats.body_timeouts += 1
                return _refusal(
                    408, "The request body did not arrive in time.", ErrorCode.BAD_REQUEST
                )
        return await handler(request)
    finally:
        if guarded is not None:
            guarded.request_finished()


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


async def _engineio_request(
    request: web.Request,
    handler: _Handler,
    guard: TransportGuard,
    protocol: GuardedRequestHandler | None,
) -> web.StreamResponse:
    sio = guard.sio
    sid = request.query.get("sid")
    if sid is None and request.method == "GET" and sio.refuse_new(request.remote or "unknown"):
        # refused before engine.io builds a socket for it: a flood costs little
        resp = _refusal(429, "Too many connections without a session; try again later.")
        resp.headers["Retry-After"] = "5"
        return resp
    if sid is not None:
        sock = sio.eio.sockets.get(sid) if _SID.fullmatch(sid) else None
        if sock is None or sock.closed or sock.closing:
            # engine.io would log this (with the client's sid in it) and, for a POST to a
            # closing socket, a traceback: a stale or forged session is the client's problem
            return _plain(400, "Unknown or closed session.")
    if request.method == "POST":
        limit = guard.limits.buffer_bytes if sio.session_up(sid) else guard.limits.pre_session_bytes
        try:
            request = await read_body(request, limit, guard.limits.body_timeout_s)
        except BodyTooLarge:
            guard.stats.oversize_bodies += 1
            return _refusal(413, f"A long-polling request here is at most {limit} bytes.")
        except TimeoutError:
            guard.stats.body_timeouts += 1
            return _refusal(408, "The request body did not arrive in time.")
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if upgrade and protocol is not None and not sio.session_up(sid):
        budget = WsBudget(sio, guard.limits.pre_session_bytes, sid)
        protocol.ws_budget = budget
        if sid is not None and request.transport is not None:
            sio.ws_transports[sid] = request.transport
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        # engine.io decodes a websocket frame outside its own error handling; a client's
        # garbage must not reach aiohttp's "Error handling request" traceback
        logger.info("engine.io request failed: %s", safe(repr(exc)))
        if upgrade:
            transport = request.transport
            for eio_sid, known in list(sio.ws_transports.items()):
                if known is transport:
                    sio.drop(eio_sid)
            if sid is not None:
                sio.drop(sid)
            if transport is not None:
                transport.abort()
        return _plain(400, "Bad engine.io request.")


def install(app: web.Application, sio: GuardedSocketServer, limits: TransportLimits) -> None:
    """Add the middleware (innermost, so the error middleware turns its refusals into JSON)."""
    app[GUARD_KEY] = TransportGuard(limits, sio)
    app.middlewares.append(transport_middleware)


def metric_lines(app: web.Application) -> list[str]:
    """Prometheus lines for /metrics."""
    guard = app.get(GUARD_KEY)
    if guard is None:
        return []
    sio, s = guard.sio, guard.stats
    rows: list[tuple[str, str, str, float]] = [
        ("parley_http_connections", "gauge", "Open HTTP/WebSocket connections.", s.http_connections),
        ("parley_http_connections_total", "counter", "HTTP connections accepted since start.",
         s.http_connections_total),
        ("parley_engineio_sockets", "gauge", "engine.io sockets (with or without a session).",
         len(sio.eio.sockets)),
        ("parley_unauthenticated_sockets", "gauge", "engine.io sockets without a session yet.",
         len(sio.pending)),
        ("parley_auth_timeouts_total", "counter", "Sockets closed for not authenticating in time.",
         s.auth_timeouts),
        ("parley_header_timeouts_total", "counter", "Connections closed waiting for headers.",
         s.header_timeouts),
        ("parley_body_timeouts_total", "counter", "Requests whose body did not arrive in time.",
         s.body_timeouts),
        ("parley_oversize_bodies_total", "counter", "Requests refused 413 for their body size.",
         s.oversize_bodies),
        ("parley_pre_session_overruns_total", "counter",
         "Websockets closed for sending too much before their session.", s.pre_session_overruns),
        ("parley_malformed_packets_total", "counter", "Connections closed for a malformed packet.",
         s.malformed_packets),
        ("parley_attachment_violations_total", "counter",
         "Packets refused for their binary attachments.", s.attachment_violations),
    ]
    lines: list[str] = []
    for name, kind, text, value in rows:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    lines += [
        "# HELP parley_refused_sockets_total engine.io connections refused by a cap.",
        "# TYPE parley_refused_sockets_total counter",
        f'parley_refused_sockets_total{{cap="per_ip"}} {s.refused_per_ip}',
        f'parley_refused_sockets_total{{cap="total"}} {s.refused_total}',
        f'parley_refused_sockets_total{{cap="tcp_per_ip"}} {s.refused_connections_per_ip}',
    ]
    return lines


def raise_fd_limit() -> tuple[int, int] | None:
    """Lift the soft RLIMIT_NOFILE to the hard limit; returns (old soft, new soft)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        logger.warning("could not raise the open-files limit from %d: %s", soft, exc)
        return soft, soft
    return soft, target
