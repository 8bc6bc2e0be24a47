"""The application factory and the in-process runner.

``create_app`` builds the aiohttp app with the Socket.IO server attached; ``start_server``
runs it on the *current* event loop (plain asyncio, uvloop or qasync) and returns a handle
whose ``stop()`` closes clients, finishes in-flight work and closes storage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web

from server import jsoncodec
from server.chat import ChatService
from server.config import ServerConfig
from server.fanout import FanoutManager
from server.http_api import CHAT_KEY, add_routes
from server.namespace import ChatNamespace
from server.protocol import IMAGE_GRACE_BYTES
from server.sio_guard import GuardedSocketServer, GuardLimits
from server.storage.base import Storage
from server.storage.sqlite import SQLiteStorage
from server.transport_guard import GUARD_KEY, GuardedTCPSite, TransportLimits
from server.transport_guard import install as install_transport_guard
from server.ws_writer import EngineServer, outbound_budget

logger = logging.getLogger(__name__)

SIO_KEY: web.AppKey[socketio.AsyncServer] = web.AppKey("sio", socketio.AsyncServer)
STORAGE_KEY: web.AppKey[Storage] = web.AppKey("storage", Storage)

# polling carries binary as base64 (4/3) plus the JSON text of the event
_FRAMING_OVERHEAD = 256 * 1024


def max_buffer_bytes(config: ServerConfig) -> int:
    """Large enough that an image up to 1 MiB over the limit still reaches the handler."""
    return (config.max_image_bytes + IMAGE_GRACE_BYTES) * 4 // 3 + _FRAMING_OVERHEAD


class _SocketServer(GuardedSocketServer):
    """python-socketio's AsyncServer with the transport limits (``server.sio_guard``) and
    one fix for long-polling clients.

    Its engine.io server is ``server.ws_writer.EngineServer``: per-socket outbound writers
    with a byte budget, and no permessage-deflate on the websocket.
    """

    def _engineio_server_class(self) -> type[EngineServer]:
        return EngineServer

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        # python-engineio leaves a pending long-poll GET hanging (up to ping timeout) when
        # the client POSTs a CLOSE packet; wake it so the client's disconnect returns at once.
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and not getattr(sock, "upgraded", False):
            sock.queue.put_nowait(None)


class _WholeBody:
    """A ``wsgi.input`` whose ``read`` returns the whole body.

    python-engineio's aiohttp driver reads polling POSTs with ``StreamReader.read(n)``,
    which may return fewer bytes than asked for large bodies (a big image), corrupting
    the packet. ``request.read()`` always returns all of it.
    """

    def __init__(self, request: web.Request) -> None:
        self._request = request

    async def read(self, length: int = -1) -> bytes:
        return await self._request.read()


def _patch_polling_body(sio: socketio.AsyncServer) -> None:
    drivers = dict(sio.eio._async)  # a per-server copy: the module's dict stays untouched
    translate = drivers["translate_request"]

    def translate_request(request: web.Request) -> dict[str, Any]:
        environ = translate(request)
        environ["wsgi.input"] = _WholeBody(request)
        return environ

    drivers["translate_request"] = translate_request
    sio.eio._async = drivers


def _origin_check(origins: list[str]) -> Any:
    allowed = set(origins)

    def check(origin: str | None, environ: dict[str, Any] | None = None) -> bool:
        # browsers always send Origin cross-origin; non-browser clients send none and pass
        return "*" in allowed or origin in allowed

    return check


def make_storage(config: ServerConfig) -> Storage:
    """PostgreSQL when a database URL is configured, else the SQLite file (the default)."""
    if config.database_url:
        # imported here: only a PostgreSQL node loads asyncpg
        from server.storage.postgres import PostgresStorage

        return PostgresStorage(config.database_url, max_size=config.database_pool_size)
    return SQLiteStorage(config.database_path)


def create_app(config: ServerConfig, storage: Storage | None = None) -> web.Application:
    """The app; ``storage`` overrides the configured one (tests running several nodes)."""
    if storage is None:
        storage = make_storage(config)
    node = None
    if config.redis_url:
        from server.cluster.node import ClusterNode  # imports redis: only for a cluster

        node = ClusterNode(config)
    sio = _SocketServer(
        async_mode="aiohttp",
        cors_allowed_origins=_origin_check(config.cors_origins),
        max_http_buffer_size=max_buffer_bytes(config),
        json=jsoncodec,
        client_manager=node.manager if node is not None else FanoutManager(),
        logger=False,
        engineio_logger=False,
        limits=GuardLimits(
            auth_timeout_s=config.auth_timeout_s,
            max_unauthenticated_per_ip=config.max_unauthenticated_per_ip,
            max_unauthenticated=config.max_unauthenticated,
            max_polling_packets=config.max_polling_packets,
        ),
    )
    _patch_polling_body(sio)
    sio.eio.outbound_budget = outbound_budget(config)
    chat = ChatService(config, storage, sio)
    sio.register_namespace(ChatNamespace(chat))

    app = web.Application(client_max_size=max_buffer_bytes(config))
    app[SIO_KEY] = sio
    app[STORAGE_KEY] = storage
    app[CHAT_KEY] = chat
    add_routes(app)
    install_transport_guard(app, sio, TransportLimits.from_config(config, max_buffer_bytes(config)))
    sio.attach(app)
    if node is not None:
        node.attach(app, chat)

    async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
        await storage.open()
        if node is not None:
            await node.start()  # subscribed before chat.start loads the rooms' seqs
        await chat.start()
        yield
        await chat.stop()
        if node is not None:
            await node.stop()
        await storage.close()

    async def disconnect_clients(app: web.Application) -> None:
        # closing the transports (not a Socket.IO disconnect) lets clients reconnect later
        # (close without waiting for the queue: a peer that already went never drains it)
        for sock in list(sio.eio.sockets.values()):
            await sock.close(wait=False, reason=sio.eio.reason.SERVER_DISCONNECT)
            sock.queue.put_nowait(None)  # after the CLOSE packet: end the writer / long-poll
        await sio.shutdown()

    app.cleanup_ctx.append(storage_ctx)
    app.on_shutdown.append(disconnect_clients)
    return app


@dataclass
class RunningServer:
    """A server listening on ``url``; ``await stop()`` once."""

    app: web.Application
    runner: web.AppRunner
    host: str
    port: int
    _stopped: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, close every client, finish in-flight work, close storage."""
        if self._stopped:
            return
        self._stopped = True
        await self.runner.cleanup()
        logger.info("server on %s stopped", self.url)


async def start_server(config: ServerConfig, storage: Storage | None = None) -> RunningServer:
    """Start on the running loop; port 0 picks a free port (see ``RunningServer.port``)."""
    app = create_app(config, storage)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=5.0,
        keepalive_timeout=config.keepalive_timeout_s,
    )
    await runner.setup()
    site = GuardedTCPSite(
        runner, config.host, config.port, guard=app[GUARD_KEY], reuse_address=True
    )
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = config.port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            port = int(address[1])
            break
    running = RunningServer(app, runner, config.host, port)
    logger.info("Parley server listening on %s", running.url)
    return running
