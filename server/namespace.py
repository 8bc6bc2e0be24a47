"""ChatNamespace: the Socket.IO face of the server, one ``on_<event>`` per protocol event.

Handlers are thin: they validate the envelope, call :class:`server.chat.ChatService`, and
answer exactly one ack. ``trigger_event`` maps wire names with ``:`` onto methods and turns
every failure into an error ack, so a malformed payload never disconnects anyone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from server.auth import token_hash
from server.chat import ChatService
from server.connections import Connection
from server.errors import ProtocolError, bad_request, error_ack
from server.protocol import IMAGE_GRACE_BYTES, ErrorCode, Event
from server.sio_guard import MALFORMED_EVENT, TOO_MANY_ATTACHMENTS_EVENT
from server.validation import optional_bool, require_dict

logger = logging.getLogger(__name__)

Handler = Callable[["ChatNamespace", Connection, dict[str, Any]], Awaitable[dict[str, Any]]]
Ack = dict[str, Any]


def acked(fn: Handler) -> Callable[..., Awaitable[Ack]]:
    """Wrap a handler so it answers ``{"ok": true, ...}`` or one error ack, never raises."""

    @functools.wraps(fn)
    async def wrapper(self: ChatNamespace, sid: str, *args: Any) -> Ack:
        try:
            if len(args) > 1:
                raise bad_request("Send one payload object.")
            payload = require_dict(args[0] if args else None)
            conn = await self.connection(sid)
            result = await fn(self, conn, payload)
            return {"ok": True, **result}
        except ProtocolError as exc:
            self.chat.metrics.error_acks[str(exc.code)] += 1
            return error_ack(exc.code, exc.message)
        except Exception:
            logger.exception("handler %s failed", fn.__name__)
            self.chat.metrics.error_acks[str(ErrorCode.INTERNAL)] += 1
            return error_ack(ErrorCode.INTERNAL, "The server failed to handle this request.")

    return wrapper


class _Slots:
    """One connection's request slots: ``limit`` run at once, a bounded line waits.

    python-socketio runs every incoming event as its own task, so without this a client
    could have hundreds of history pages being built at once. Waiting requests cost only
    their payloads, which are bounded in number (``WAITING_FACTOR`` × limit) and, for binary
    data (images), in bytes.
    """

    __slots__ = ("semaphore", "admitted", "waiting_bytes")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.admitted = 0  # running plus waiting
        self.waiting_bytes = 0


WAITING_FACTOR = 8


def _binary_size(value: Any, depth: int = 0) -> int:
    """Bytes of the binary values in a payload (an image's data), looked for 3 levels deep."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if depth >= 3:
        return 0
    if isinstance(value, dict):
        return sum(_binary_size(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_binary_size(v, depth + 1) for v in value)
    return 0


class ChatNamespace(socketio.AsyncNamespace):
    def __init__(self, chat: ChatService) -> None:
        super().__init__("/")
        self.chat = chat
        # per connection: bounded concurrent work (python-socketio runs every event as a task)
        self._slots: dict[str, _Slots] = {}
        self._handlers: dict[str, Callable[..., Awaitable[Ack]]] = {
            Event.SESSION_LOGOUT: self.on_session_logout,
            Event.SESSION_PASSWORD: self.on_session_password,
            Event.ROOMS_LIST: self.on_rooms_list,
            Event.ROOM_CREATE: self.on_room_create,
            Event.ROOM_JOIN: self.on_room_join,
            Event.ROOM_LEAVE: self.on_room_leave,
            Event.ROOM_MEMBERS: self.on_room_members,
            Event.ROOM_INVITE: self.on_room_invite,
            Event.ROOM_TOPIC: self.on_room_topic,
            Event.ROOM_CLOSE: self.on_room_close,
            Event.DM_OPEN: self.on_dm_open,
            Event.MESSAGE_SEND: self.on_message_send,
            Event.MESSAGE_HISTORY: self.on_message_history,
            Event.MESSAGE_RECEIPT: self.on_message_receipt,
            Event.MEDIA_GET: self.on_media_get,
            Event.MESSAGE_EDIT: self.on_message_edit,
            Event.MESSAGE_DELETE: self.on_message_delete,
            Event.REACTION_SET: self.on_reaction_set,
            Event.MESSAGE_CHANGES: self.on_message_changes,
            Event.MESSAGE_SEARCH: self.on_message_search,
            Event.TYPING: self.on_typing,
        }

    async def trigger_event(self, event: Any, *args: Any) -> Any:
        """Overrides AsyncNamespace.trigger_event: route ``a:b`` names, refuse unknown ones."""
        sid: str = args[0] if args else ""
        # a client may *emit* "connect"/"disconnect"; only the engine calls them pre-connection
        from_engine = not self.server.manager.is_connected(sid, self.namespace)
        if event == "connect" and from_engine:
            return await self.on_connect(*args)
        if event == "disconnect" and from_engine:
            return await self.on_disconnect(sid)
        if event == MALFORMED_EVENT:
            self.chat.metrics.error_acks[str(ErrorCode.BAD_REQUEST)] += 1
            return error_ack(
                ErrorCode.BAD_REQUEST, "The packet is not a valid event (JSON, nesting or numbers)."
            )
        if event == TOO_MANY_ATTACHMENTS_EVENT:
            self.chat.metrics.error_acks[str(ErrorCode.BAD_REQUEST)] += 1
            return error_ack(ErrorCode.BAD_REQUEST, "Send at most one binary value per event.")
        handler = self._handlers.get(event) if isinstance(event, str) else None
        if handler is None:
            return error_ack(ErrorCode.BAD_REQUEST, "Unknown event.")
        limit = self.chat.config.max_requests_in_flight
        if limit <= 0:
            return await handler(*args)
        slots = self._slots.get(sid)
        if slots is None:
            slots = self._slots[sid] = _Slots(limit)
        size = _binary_size(args[1:])
        if slots.admitted >= WAITING_FACTOR * limit or (
            size
            and slots.waiting_bytes
            and slots.waiting_bytes + size > 2 * (self.chat.config.max_image_bytes + IMAGE_GRACE_BYTES)
        ):
            self.chat.metrics.error_acks[str(ErrorCode.RATE_LIMITED)] += 1
            return error_ack(
                ErrorCode.RATE_LIMITED,
                "Too many requests are waiting on this connection; wait for their answers.",
            )
        slots.admitted += 1
        slots.waiting_bytes += size
        try:
            async with slots.semaphore:
                slots.waiting_bytes -= size
                size = 0
                return await handler(*args)
        finally:
            slots.waiting_bytes -= size
            slots.admitted -= 1
            if slots.admitted == 0 and self._slots.get(sid) is slots:
                del self._slots[sid]

    async def connection(self, sid: str) -> Connection:
        conn = self.chat.connections.get(sid)
        if conn is None:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "This connection has no session.")
        if not conn.ready.is_set():
            await conn.ready.wait()
        return conn

    # -- lifecycle --------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            request = environ.get("aiohttp.request")
            ip = self.chat.accounts.address(
                getattr(request, "remote", None), environ.get("HTTP_X_FORWARDED_FOR")
            )
            user, token = await self.chat.accounts.authenticate(auth, ip)
        except ProtocolError as exc:
            self.chat.metrics.refused_connections[str(exc.code)] += 1
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.to_wire()) from None
        except Exception:
            logger.exception("authentication failed unexpectedly")
            raise socketio.exceptions.ConnectionRefusedError(
                "The server failed to authenticate you.",
                {
                    "code": str(ErrorCode.INTERNAL),
                    "message": "The server failed to authenticate you.",
                },
            ) from None
        conn = Connection(sid, user, token_hash(token))
        if not await self.chat.presence.prepare_session(
            conn, self.chat.accounts.session_payload(user, token)
        ):
            self.chat.metrics.refused_connections[str(ErrorCode.RATE_LIMITED)] += 1
            message = f"At most {self.chat.config.max_connections_per_user} connections per user."
            raise socketio.exceptions.ConnectionRefusedError(
                message, {"code": str(ErrorCode.RATE_LIMITED), "message": message}
            )
        logger.info("user %s connected (%s)", user.name, sid)
        # python-socketio sends the CONNECT packet after this handler returns; the session
        # event and room subscriptions follow it from a task, so session is the first event.
        asyncio.get_running_loop().create_task(self._connection_up(conn))

    async def _connection_up(self, conn: Connection) -> None:
        try:
            eio_sid = self.server.manager.eio_sid_from_sid(conn.sid, self.namespace)
            if eio_sid is None or eio_sid not in self.server.eio.sockets:
                # the transport died while we were authenticating; no disconnect will come
                conn.ready.set()
                await self.chat.presence.connection_down(conn.sid)
                return
            await self.chat.presence.connection_up(conn)
        except Exception:
            logger.exception("setting up connection %s failed", conn.sid)

    async def on_disconnect(self, sid: str) -> None:
        conn = self.chat.connections.get(sid)
        if conn is not None:
            await conn.ready.wait()
            logger.info("user %s disconnected (%s)", conn.user.name, sid)
        try:
            await self.chat.presence.connection_down(sid)
        except Exception:
            logger.exception("tearing down connection %s failed", sid)

    # -- session ----------------------------------------------------------------------------

    @acked
    async def on_session_logout(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.accounts.logout(conn, optional_bool(payload, "everywhere"))
        return {}

    @acked
    async def on_session_password(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.accounts.change_password(conn, payload.get("old"), payload.get("new"))
        return {}

    # -- rooms ------------------------------------------------------------------------------

    @acked
    async def on_rooms_list(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return {"rooms": await self.chat.rooms.list_rooms(conn.user)}

    @acked
    async def on_room_create(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        room = await self.chat.rooms.create_room(
            conn.user,
            payload.get("name"),
            payload.get("topic"),
            optional_bool(payload, "private"),
            conn.sid,
        )
        return {"room": room}

    @acked
    async def on_room_join(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.rooms.join_room(conn.user, payload.get("room"), conn.sid)

    @acked
    async def on_room_leave(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.rooms.leave_room(conn.user, payload.get("room"), conn.sid)
        return {}

    @acked
    async def on_room_members(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return {"members": await self.chat.rooms.room_members(conn.user, payload.get("room"))}

    @acked
    async def on_room_invite(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.rooms.invite(conn.user, payload.get("room"), payload.get("user"), conn.sid)
        return {}

    @acked
    async def on_room_topic(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        room = await self.chat.rooms.set_topic(
            conn.user, payload.get("room"), payload.get("topic"), conn.sid
        )
        return {"room": room}

    @acked
    async def on_room_close(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.rooms.close_room(conn.user, payload.get("room"))
        return {}

    @acked
    async def on_dm_open(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return {"room": await self.chat.rooms.open_dm(conn.user, payload.get("user"))}

    # -- messages ---------------------------------------------------------------------------

    @acked
    async def on_message_send(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        _, message, _ = await self.chat.messages.send_message(conn.user, payload, conn.sid)
        return {"message": message}

    @acked
    async def on_message_history(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.messages.history(conn.user, payload)

    @acked
    async def on_message_receipt(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.receipts.receipt(conn.user, payload)
        return {}

    @acked
    async def on_media_get(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        mime, name, data = await self.chat.messages.media(conn.user, payload.get("id"))
        return {"mime": mime, "name": name, "data": data}

    # -- protocol v2: changes to messages and catch-up --------------------------------------

    @acked
    async def on_message_edit(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.relations.edit(conn.user, payload, conn.sid)

    @acked
    async def on_message_delete(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.relations.delete(conn.user, payload, conn.sid)

    @acked
    async def on_reaction_set(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.relations.react(conn.user, payload, conn.sid)

    @acked
    async def on_message_changes(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.sync.changes(conn.user, payload)

    @acked
    async def on_message_search(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        return await self.chat.search.search(conn.user, payload)

    @acked
    async def on_typing(self, conn: Connection, payload: dict[str, Any]) -> Ack:
        await self.chat.presence.typing(conn.user, payload, conn.sid)
        return {}
