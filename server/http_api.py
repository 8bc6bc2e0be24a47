"""The HTTP side of the port: /healthz, /metrics, /api/* (JSON, bearer tokens) and /media/{id}.

Handlers translate HTTP to :class:`server.chat.ChatService` calls and ProtocolError into the
``{"error": {...}}`` body with the protocol's status codes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from aiohttp import web

from server import __version__, jsoncodec
from server.chat import ChatService
from server.errors import ProtocolError, bad_request
from server.protocol import HTTP_STATUS, ErrorCode
from server.storage.base import User
from server.transport_guard import GUARD_KEY, metric_lines
from server.validation import check_strings
from server.wire import message_to_wire
from server.ws_writer import outbound_metrics

logger = logging.getLogger(__name__)

CHAT_KEY: web.AppKey[ChatService] = web.AppKey("chat", ChatService)
# checks /healthz runs (a cluster node's Redis, a PostgreSQL pool): a problem, or None
HealthCheck = Callable[[], Awaitable["str | None"]]
HEALTH_CHECKS_KEY: web.AppKey[list[HealthCheck]] = web.AppKey("health_checks", list)
# more /metrics lines (the cluster bus)
METRIC_SOURCES_KEY: web.AppKey[list[Callable[[], list[str]]]] = web.AppKey("metric_sources", list)
MAX_WAIT_MS = 10_000

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# /healthz gives up on the database after this long
DB_PING_TIMEOUT_S = 3.0


@runtime_checkable
class _PooledStorage(Protocol):
    """A storage on a database server (PostgreSQL): it can be unreachable, and has a pool."""

    async def ping(self) -> None: ...

    def pool_stats(self) -> Any: ...


@runtime_checkable
class _EstimatingStorage(Protocol):
    """A storage whose exact message count is too dear for every scrape (PostgreSQL)."""

    async def message_count_estimate(self) -> int: ...


async def _stored_lines(storage: Any) -> list[str]:
    if isinstance(storage, _EstimatingStorage):
        stored = await storage.message_count_estimate()
        help_text = (
            "Messages currently stored, estimated from PostgreSQL's planner statistics "
            "(pg_class.reltuples): cheap on a large database, not an exact count."
        )
    else:
        stored = await storage.message_count()
        help_text = "Messages currently stored."
    return [
        f"# HELP parley_messages_stored {help_text}",
        "# TYPE parley_messages_stored gauge",
        f"parley_messages_stored {stored}",
    ]


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON out; bytes (thumbnails) become base64 strings since JSON has no binary."""
    body = json.dumps(data, default=_json_default, separators=(",", ":"))
    return web.Response(text=body, status=status, content_type="application/json")


def error_response(code: ErrorCode, message: str) -> web.Response:
    return json_response(
        {"error": {"code": str(code), "message": message}}, status=HTTP_STATUS[code]
    )


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status == 404 and request.path.startswith(("/api/", "/media/")):
            return error_response(ErrorCode.NOT_FOUND, "No such resource.")
        if exc.status == 413 and request.path.startswith(("/api/", "/media/")):
            return error_response(ErrorCode.TOO_LARGE, "The request body is too large.")
        if exc.status == 405 and request.path.startswith(("/api/", "/media/")):
            return json_response(
                {"error": {"code": str(ErrorCode.BAD_REQUEST), "message": "Method not allowed."}},
                status=405,
            )
        raise
    except Exception:
        logger.exception("HTTP %s %s failed", request.method, request.path)
        return error_response(ErrorCode.INTERNAL, "The server failed to handle this request.")


async def _user(request: web.Request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "Send Authorization: Bearer <token>.")
    return await request.app[CHAT_KEY].accounts.user_for_token(token.strip())


# the bearer token's user, for the route modules beside this one (server.http_media)
request_user = _user


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        # jsoncodec: deep nesting or a 5,000-digit integer is a bad_request, never a 500
        body = jsoncodec.loads(await request.read())
    except ValueError:
        raise bad_request("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    check_strings(body)
    return body


def _refuse_cross_site(request: web.Request) -> None:
    """Login CSRF: only JSON (never a form-postable type), and no foreign Origin.

    A browser page elsewhere can POST text/plain without a preflight; requiring
    application/json forces one, and a present Origin must be ours or an allowed one.
    """
    if request.content_type != "application/json":
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_MEDIA, "Send the login as Content-Type: application/json."
        )
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowed = request.app[CHAT_KEY].config.cors_origins
    # same host and port is our own page (the scheme may differ behind a TLS proxy)
    own = urlsplit(origin).netloc == request.host
    if not own and origin not in allowed and "*" not in allowed:
        raise ProtocolError(ErrorCode.FORBIDDEN, "Logins from other sites are refused.")


def _int_query(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{key} must be an integer.") from None


async def healthz(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "connections": len(chat.connections),
    }
    guard = request.app.get(GUARD_KEY)
    if guard is not None:
        # every transport, including the ones that never authenticated
        body["transport"] = {
            "http_connections": guard.stats.http_connections,
            "engineio_sockets": len(guard.sio.eio.sockets),
            "unauthenticated": len(guard.sio.pending),
        }
    storage = chat.storage
    if isinstance(storage, _PooledStorage):
        try:
            await asyncio.wait_for(storage.ping(), DB_PING_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - whatever the cause, this node cannot serve
            logger.warning("health check: database unreachable (%s)", type(exc).__name__)
            body["status"] = "unavailable"
            body["database"] = "unreachable"
            return json_response(body, status=503)
        body["database"] = "ok"
    problems = [p for check in request.app.get(HEALTH_CHECKS_KEY, ()) if (p := await check())]
    if problems:
        body["status"] = "unavailable"
        body["problems"] = problems
        return json_response(body, status=503)
    return json_response(body)


def _pool_lines(storage: Any) -> list[str]:
    if not isinstance(storage, _PooledStorage):
        return []
    stats = storage.pool_stats()
    return [
        "# HELP parley_db_pool_size Open connections in the PostgreSQL pool.",
        "# TYPE parley_db_pool_size gauge",
        f"parley_db_pool_size {stats.size}",
        "# HELP parley_db_pool_in_use Pooled PostgreSQL connections in use now.",
        "# TYPE parley_db_pool_in_use gauge",
        f"parley_db_pool_in_use {stats.in_use}",
        "# HELP parley_db_pool_max The pool's largest size.",
        "# TYPE parley_db_pool_max gauge",
        f"parley_db_pool_max {stats.max_size}",
    ]


async def metrics(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    m = chat.metrics
    lines = [
        "# HELP parley_connections Open Socket.IO connections.",
        "# TYPE parley_connections gauge",
        f"parley_connections {len(chat.connections)}",
        "# HELP parley_online_users Users with at least one open connection.",
        "# TYPE parley_online_users gauge",
        f"parley_online_users {chat.connections.online_users()}",
        "# HELP parley_messages_total Messages accepted since start (text and image).",
        "# TYPE parley_messages_total counter",
        f"parley_messages_total {m.messages_total}",
        "# HELP parley_images_total Image messages accepted since start.",
        "# TYPE parley_images_total counter",
        f"parley_images_total {m.images_total}",
        *await _stored_lines(chat.storage),
        "# HELP parley_connections_total Connections accepted since start.",
        "# TYPE parley_connections_total counter",
        f"parley_connections_total {m.connections_total}",
        "# HELP parley_logins_total Successful password logins since start.",
        "# TYPE parley_logins_total counter",
        f"parley_logins_total {m.logins_total}",
        "# HELP parley_failed_logins_total Failed password logins since start.",
        "# TYPE parley_failed_logins_total counter",
        f"parley_failed_logins_total {m.failed_logins_total}",
        "# HELP parley_registrations_total Users registered since start.",
        "# TYPE parley_registrations_total counter",
        f"parley_registrations_total {m.registrations_total}",
        "# HELP parley_refused_connections_total Connections refused, by error code.",
        "# TYPE parley_refused_connections_total counter",
    ]
    lines += [
        f'parley_refused_connections_total{{code="{code}"}} {n}'
        for code, n in sorted(m.refused_connections.items())
    ]
    lines += [
        "# HELP parley_error_acks_total Error acks sent, by error code.",
        "# TYPE parley_error_acks_total counter",
    ]
    lines += [
        f'parley_error_acks_total{{code="{code}"}} {n}' for code, n in sorted(m.error_acks.items())
    ]
    lines += outbound_metrics(chat.ctx.sio.eio)
    lines += metric_lines(request.app)
    lines += _pool_lines(chat.storage)
    for source in request.app.get(METRIC_SOURCES_KEY, ()):
        lines += source()
    lines += [
        "# HELP parley_uptime_seconds Seconds since the server started.",
        "# TYPE parley_uptime_seconds gauge",
        f"parley_uptime_seconds {time.time() - m.started:.3f}",
    ]
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def login(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    _refuse_cross_site(request)
    body = await _json_body(request)
    ip = chat.accounts.address(request.remote, request.headers.get("X-Forwarded-For"))
    user = await chat.accounts.login(body.get("username"), body.get("password"), ip)
    token = await chat.accounts.issue_token(user)
    return json_response({"token": token, "user": {"name": user.name}})


async def rooms(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    user = await _user(request)
    return json_response({"rooms": await chat.rooms.list_rooms(user)})


async def get_messages(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    user = await _user(request)
    payload = {
        "room": request.match_info["room"],
        "before": _int_query(request, "before"),
        "after": _int_query(request, "after"),
        "limit": _int_query(request, "limit"),
    }
    return json_response(await chat.messages.history(user, payload))


async def post_message(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    user = await _user(request)
    wait_ms = _int_query(request, "wait_ms") or 0
    if not 0 <= wait_ms <= MAX_WAIT_MS:
        raise bad_request(f"wait_ms must be 0 to {MAX_WAIT_MS}.")
    body = await _json_body(request)
    if "image" in body:
        raise bad_request("Images are sent over Socket.IO; this endpoint takes text.")
    payload = {
        "room": request.match_info["room"],
        "text": body.get("text"),
        "client_id": body.get("client_id"),
    }
    if payload["text"] is None:
        raise bad_request("text is required.")
    record, _, _ = await chat.messages.send_message(user, payload, None, require_client_id=False)
    delivered = await chat.receipts.wait_delivered(record, user, wait_ms / 1000)
    message = message_to_wire(record, await chat.storage.members(record.room))
    return json_response({"message": message, "delivered": delivered}, status=201)


async def post_notice(request: web.Request) -> web.Response:
    """An operator's broadcast to every connection (``notice`` event)."""
    chat = request.app[CHAT_KEY]
    user = await _user(request)
    if not chat.accounts.is_operator(user):
        raise ProtocolError(ErrorCode.FORBIDDEN, "Only the server's operators may send notices.")
    body = await _json_body(request)
    text, level = body.get("text"), body.get("level", "info")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("text must be a non-empty string.")
    if len(text) > chat.config.max_text_chars:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"A notice is at most {chat.config.max_text_chars} characters."
        )
    if level not in ("info", "warning"):
        raise bad_request("level must be info or warning.")
    await chat.broadcast_notice(text, level)
    logger.info("operator %s broadcast a %s notice", user.name, level)
    return json_response({"ok": True, "connections": len(chat.connections)})


def add_routes(app: web.Application) -> None:
    from server import http_media  # it builds on this module

    app.middlewares.append(error_middleware)
    app[HEALTH_CHECKS_KEY] = []
    app[METRIC_SOURCES_KEY] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/api/login", login)
    app.router.add_get("/api/rooms", rooms)
    app.router.add_get("/api/rooms/{room}/messages", get_messages)
    app.router.add_post("/api/rooms/{room}/messages", post_message)
    app.router.add_post("/api/notice", post_notice)
    http_media.add_routes(app)  # POST /api/media and GET /media/{id} (files, section 17)
