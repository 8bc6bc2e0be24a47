"""ChatClient: the one service that talks to a Parley server (shared/PROTOCOL.md).

It owns the ``socketio.AsyncClient`` and everything that follows from the connection:
reconnecting with backoff (its own loop, so it can count down and switch to the session
token), catching up on missed messages without gaps or duplicates, flushing the on-disk
Outbox in order, receipts, typing, presence and unread counts. The UI talks to it only
through Qt signals, its stores/models, and the methods below. All networking runs on the
qasync event loop; there are no threads here.

Signals:
    connectionStateChanged(str state, int retry_in_s): "offline" | "connecting" |
        "connected" | "reconnecting" | "refused".
    sessionStarted(str username): the first session of a ``connect_to`` is up.
    sessionRefused(str code, str message): the server refused our credentials.
    errorOccurred(str message): a human-readable problem to show.
    roomAdded(str room_id): a room joined, created, opened or added by someone else.
    roomClosed(str room_id): a room is gone from this user's list (closed or left).
    typingChanged(str room_id, list users): who is typing there now.
    messageReceived(str room_id, object message): a new message from someone else.
    noticeReceived(str text, str level): an operator broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import socketio
from PySide6.QtCore import QObject, QTimer, Signal

from desktop.models.member_list import MemberListModel
from desktop.models.message_list import MessageListModel
from desktop.models.room_list import RoomListModel
from desktop.net.outbox import Outbox, OutboxEntry, is_retryable
from desktop.state.members import MemberStore
from desktop.state.messages import MessageStore
from desktop.state.rooms import RoomStore
from desktop.state.types import DeliveryStatus, ImageInfo, Member, Message, Room
from server.protocol import (
    DEFAULT_HISTORY_PAGE,
    HISTORY_LIMIT,
    TYPING_EXPIRY_S,
    TYPING_REFRESH_S,
    DeliveryState,
    ErrorCode,
    Event,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 15.0
SEND_TIMEOUT_S = 30.0
MAX_SEND_ATTEMPTS = 8
RECONNECT_DELAYS_S = (1, 2, 4, 8, 15, 30)
MEDIA_CACHE_BYTES = 64 * 1024 * 1024
# Receipts are cumulative, so one per room and state per this many seconds (the highest
# id) says the same as one per message, without a durable server write for each.
RECEIPT_DEBOUNCE_S = 0.25

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class RequestError(Exception):
    """A request failed; ``code`` is a protocol error code (or "offline"/"timeout")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatClient(QObject):
    """The app's connection to one server as one user (signals listed in the module doc)."""

    connectionStateChanged = Signal(str, int)
    sessionStarted = Signal(str)
    sessionRefused = Signal(str, str)
    errorOccurred = Signal(str)
    roomAdded = Signal(str)
    roomClosed = Signal(str)
    typingChanged = Signal(str, list)
    messageReceived = Signal(str, object)
    noticeReceived = Signal(str, str)

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.rooms = RoomStore()
        self.messages = MessageStore()
        self.members = MemberStore()
        self.room_model = RoomListModel(self.rooms, self)
        self.outbox = Outbox(self.data_dir)
        self.username: str | None = None
        self.token: str | None = None
        self.state = "offline"
        self.reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS_S
        self._limits: dict[str, Any] = {}
        self._server_info: dict[str, Any] = {}
        self._message_models: dict[str, MessageListModel] = {}
        self._member_models: dict[str, MemberListModel] = {}

        self._url: str | None = None
        self._auth: dict[str, str] = {}
        self._want_connected = False
        self._announced_session = False
        self._sio: socketio.AsyncClient | None = None
        self._session_future: asyncio.Future[dict[str, Any]] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._refusal: tuple[str, str] | None = None
        self._ready = False  # connected, session up, caught up: sends may flow
        self._emit_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake_reconnect = asyncio.Event()

        self._active_room: str | None = None
        self._focused = True
        self._older_more: dict[str, bool] = {}
        self._members_loaded: set[str] = set()  # rooms whose full member list we fetched
        self._receipts_due: dict[tuple[str, str], int] = {}
        self._receipts_sent: dict[tuple[str, str], int] = {}
        self._receipts_scheduled = False
        self.receipt_debounce_s = RECEIPT_DEBOUNCE_S
        self._typing: dict[str, dict[str, float]] = {}  # room -> user -> expiry (monotonic)
        self._typing_sent: dict[str, float] = {}  # room -> when we last sent true
        self._typing_names: dict[str, str] = {}  # lowercased -> as the server spells it
        self._media_cache: OrderedDict[str, tuple[str, str, bytes]] = OrderedDict()
        self._media_cache_bytes = 0
        self._media_inflight: dict[str, asyncio.Future[tuple[str, str, bytes]]] = {}

        self._typing_timer = QTimer(self)
        self._typing_timer.setInterval(1000)
        self._typing_timer.timeout.connect(self._on_typing_timer_timeout)

    # ------------------------------------------------------------------ properties
    @property
    def limits(self) -> dict[str, Any]:
        return dict(self._limits)

    @property
    def server_info(self) -> dict[str, Any]:
        return dict(self._server_info)

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def is_connected(self) -> bool:
        return self._ready

    def message_model(self, room_id: str) -> MessageListModel:
        """The room's timeline model, created on first use."""
        model = self._message_models.get(room_id)
        if model is None:
            model = MessageListModel(self.messages, room_id, self.username, self)
            self._message_models[room_id] = model
        return model

    def member_model(self, room_id: str) -> MemberListModel:
        """The room's member list model, created on first use (fetched if connected)."""
        model = self._member_models.get(room_id)
        if model is None:
            model = MemberListModel(self.members, room_id, self)
            self._member_models[room_id] = model
            if self._ready and room_id not in self._members_loaded:
                self._spawn(self._refresh_members(room_id))
        return model

    # ------------------------------------------------------------------ connection
    async def connect_to(self, url: str, auth: dict[str, str]) -> bool:
        """Connect and sign in with ``{"username", "password"}`` or ``{"token"}``.

        Returns True once the session is up and caught up. On a refusal it emits
        sessionRefused and returns False. If the server cannot be reached it emits
        errorOccurred, keeps retrying in the background (state "reconnecting"), and
        returns False.
        """
        await self.disconnect()
        self._url = url.rstrip("/")
        self._auth = dict(auth)
        self.token = auth.get("token") or None
        self._want_connected = True
        self._announced_session = False
        first: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.ensure_future(self._run(first))
        return await first

    async def disconnect(self) -> None:  # type: ignore[override]  # the contract's name
        """Close the connection and stop reconnecting; the outbox stays on disk."""
        if self._ready and self._receipts_due:
            try:  # what was seen so far, before the debounce would have sent it
                await asyncio.wait_for(self._flush_receipts(), 2.0)
            except (TimeoutError, RequestError):
                logger.info("receipts not flushed before disconnecting")
        self._want_connected = False
        self._wake_reconnect.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await self._drop_connection()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._typing_timer.stop()
        # unsent messages must be on disk before the app may exit (waited for off the loop)
        await asyncio.get_running_loop().run_in_executor(None, self.outbox.flush)
        if self.state != "offline":
            self._set_state("offline")

    async def logout(self) -> None:
        """Revoke this session's token on the server, then disconnect and forget it."""
        try:
            await self._call(Event.SESSION_LOGOUT, {})
        except RequestError as exc:
            logger.info("logout request failed (%s); forgetting the token anyway", exc.code)
        self.token = None
        self._auth = {}
        await self.disconnect()
        self.username = None
        self.messages.own_username = None
        self.messages.clear()
        self.rooms.replace_all([])

    def reconnect_now(self) -> None:
        """Skip the rest of the reconnect countdown."""
        self._wake_reconnect.set()

    async def _run(self, first: asyncio.Future[bool]) -> None:
        """Connect, wait for the connection to drop, count down, repeat."""
        failures = 0
        try:
            while self._want_connected:
                try:
                    await self._connect_once()
                except _Refused as refused:
                    self._set_state("refused")
                    self._want_connected = False
                    self.sessionRefused.emit(refused.code, refused.message)
                    self.errorOccurred.emit(refused.message)
                    _resolve(first, False)
                    return
                except (TimeoutError, OSError, socketio.exceptions.SocketIOError, RequestError) as exc:
                    logger.info("connection attempt failed: %s", type(exc).__name__)
                    await self._drop_connection()
                    if failures == 0:
                        self.errorOccurred.emit(self._unreachable_text(exc))
                    failures += 1
                    _resolve(first, False)
                else:
                    failures = 0
                    _resolve(first, True)
                    assert self._lost is not None
                    await asyncio.shield(self._lost)
                    await self._drop_connection()
                    if not self._want_connected:
                        break
                    failures = 1
                await self._count_down(failures)
        except asyncio.CancelledError:
            _resolve(first, False)
            raise

    async def _count_down(self, failures: int) -> None:
        delays = self.reconnect_delays
        delay = delays[min(failures, len(delays)) - 1] if failures else delays[0]
        self._wake_reconnect.clear()
        remaining = float(delay)
        while remaining > 0 and self._want_connected:
            self._set_state("reconnecting", max(1, round(remaining)))
            step = min(1.0, remaining)
            try:
                await asyncio.wait_for(self._wake_reconnect.wait(), step)
                return
            except TimeoutError:
                remaining -= step

    async def _connect_once(self) -> None:
        assert self._url is not None
        self._set_state("connecting")
        # catch-up anchors are taken before connecting: live messages that arrive while
        # we catch up must not move them, or the messages in between would be skipped
        anchors = {room: self.messages.newest_id(room) for room in self.messages.rooms()}
        loop = asyncio.get_running_loop()
        sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self._sio = sio
        self._lost = loop.create_future()
        self._session_future = loop.create_future()
        self._refusal = None
        self._register_handlers(sio)
        auth = {"token": self.token} if self.token else dict(self._auth)
        try:
            await sio.connect(self._url, auth=auth, transports=["websocket"],
                              wait_timeout=CONNECT_TIMEOUT_S)
        except socketio.exceptions.ConnectionError:
            refusal = self._refusal
            if refusal is not None and refusal[0] == ErrorCode.RATE_LIMITED:
                raise RequestError(refusal[0], refusal[1] or "Too many sign-in attempts") from None
            if refusal is not None:
                if "token" in auth and "password" in self._auth:
                    # the stored token expired or was revoked: fall back to the password
                    self.token = None
                    await self._drop_connection()
                    await self._connect_once()
                    return
                raise _Refused(refusal[0], self._refusal_text(refusal, auth)) from None
            raise
        session = await asyncio.wait_for(asyncio.shield(self._session_future),
                                         CONNECT_TIMEOUT_S)
        self._on_session(session)
        await self._catch_up(anchors)
        self._ready = True
        self._set_state("connected")
        if self._receipts_due and not self._receipts_scheduled:
            self._receipts_scheduled = True
            self._spawn(self._send_receipts())
        self._typing_timer.start()
        self._flush_wake.set()
        self._flush_task = self._spawn(self._flush_outbox())
        self._send_read_if_visible()

    async def _drop_connection(self) -> None:
        self._ready = False
        flush, self._flush_task = self._flush_task, None
        if flush is not None and not flush.done():
            flush.cancel()
            await asyncio.gather(flush, return_exceptions=True)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        sio, self._sio = self._sio, None
        if sio is not None:
            try:
                await asyncio.wait_for(sio.disconnect(), 5)
            except (TimeoutError, OSError, socketio.exceptions.SocketIOError):
                logger.debug("socket disconnect did not finish cleanly")
        if self._typing:
            rooms = list(self._typing)
            self._typing.clear()
            for room in rooms:
                self.typingChanged.emit(room, [])

    def _on_session(self, session: dict[str, Any]) -> None:
        user = session.get("user") or {}
        username = str(user.get("name") or self._auth.get("username") or "")
        changed = self.username is not None and self.username.lower() != username.lower()
        if changed:
            self.messages.clear()
        self.username = username
        self.messages.own_username = username
        for model in self._message_models.values():
            model.own_username = username
        self.token = session.get("token") or self.token
        server = session.get("server") or {}
        self._server_info = dict(server)
        self._limits = dict(server.get("limits") or {})
        self._restore_outbox_echoes()
        if not self._announced_session:
            self._announced_session = True
            self.sessionStarted.emit(username)

    async def _catch_up(self, anchors: dict[str, int | None]) -> None:
        """rooms:list, then every joined room's missed messages in pages, then receipts."""
        ack = await self._call(Event.ROOMS_LIST, {})
        rooms = [Room.from_wire(r) for r in ack.get("rooms", [])]
        self._members_loaded.clear()  # presence may have been missed while away
        joined_ids = {r.id for r in rooms if r.joined}
        for room in self.rooms.joined():
            if room.id not in joined_ids:  # closed, or we were removed, while away
                self._forget_room(room.id)
        self.rooms.replace_all(rooms)
        limit = int(self._limits.get("history_limit") or HISTORY_LIMIT)
        for room in rooms:
            if not room.joined:
                continue
            after = anchors.get(room.id)
            if after is None:
                page = await self._call(Event.MESSAGE_HISTORY,
                                        {"room": room.id, "limit": DEFAULT_HISTORY_PAGE})
                self._take_history(room.id, page.get("messages", []))
                self._older_more[room.id] = bool(page.get("has_more"))
            else:
                while True:
                    page = await self._call(Event.MESSAGE_HISTORY,
                                            {"room": room.id, "after": after, "limit": limit})
                    msgs = page.get("messages", [])
                    self._take_history(room.id, msgs)
                    if not msgs or not page.get("has_more"):
                        break
                    after = int(msgs[-1]["id"])
            newest = self.messages.newest_id(room.id)
            if newest is not None:
                self._schedule_receipt(room.id, DeliveryState.DELIVERED, newest)
            if room.id in self._member_models or room.id == self._active_room:
                self._spawn(self._refresh_members(room.id))

    def _take_history(self, room: str, raw: list[dict[str, Any]]) -> list[Message]:
        msgs = [Message.from_wire(m) for m in raw]
        self.messages.add_many(room, msgs)
        if msgs:
            self.rooms.set_last_message(room, msgs[-1])
        return msgs

    # ------------------------------------------------------------------ server events
    def _register_handlers(self, sio: socketio.AsyncClient) -> None:
        handlers: dict[str, Callable[..., Awaitable[None]]] = {
            "connect_error": self._on_connect_error,
            "disconnect": self._on_disconnect,
            Event.SESSION: self._on_session_event,
            Event.MESSAGE: self._on_message_event,
            Event.MESSAGE_STATUS: self._on_status_event,
            Event.PRESENCE: self._on_presence_event,
            Event.TYPING: self._on_typing_event,
            Event.ROOM_ADDED: self._on_room_added_event,
            Event.ROOM_UPDATED: self._on_room_updated_event,
            Event.ROOM_CLOSED: self._on_room_closed_event,
            Event.NOTICE: self._on_notice_event,
        }
        for name, handler in handlers.items():
            sio.on(str(name), self._guarded(sio, handler))

    def _guarded(
        self, sio: socketio.AsyncClient, handler: Callable[..., Awaitable[None]]
    ) -> Callable[..., Coroutine[Any, Any, None]]:
        """Ignore events from a socket we already dropped, and never let one raise."""

        async def run(*args: Any) -> None:
            if sio is not self._sio:
                return
            try:
                await handler(*args)
            except Exception:
                logger.exception("handler %s failed", getattr(handler, "__name__", handler))

        return run

    async def _on_connect_error(self, data: Any = None) -> None:
        # python-socketio hands over {"message", "data": {"code", "message"}} or the data
        if isinstance(data, dict):
            nested = data.get("data")
            inner: dict[str, Any] = nested if isinstance(nested, dict) else data
            code = str(inner.get("code") or "")
            message = str(inner.get("message") or data.get("message") or "")
            if code:
                self._refusal = (code, message)

    async def _on_disconnect(self, reason: Any = None) -> None:
        logger.info("disconnected from server (%s)", reason)
        self._ready = False
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _on_session_event(self, data: dict[str, Any]) -> None:
        if self._session_future is not None and not self._session_future.done():
            self._session_future.set_result(data)

    async def _on_message_event(self, data: dict[str, Any]) -> None:
        msg = Message.from_wire(data)
        is_new = self.messages.add(msg)
        self.rooms.set_last_message(msg.room, msg)
        assert msg.id is not None
        self._schedule_receipt(msg.room, DeliveryState.DELIVERED, msg.id)
        if msg.sender is not None and msg.sender.lower() in self._typing.get(msg.room, {}):
            self._typing[msg.room].pop(msg.sender.lower(), None)
            self._emit_typing(msg.room)
        if not is_new or self._is_own(msg):
            return
        if self._room_visible(msg.room):
            self._send_read_if_visible()
        else:
            self.rooms.increment_unread(msg.room)
        self.messageReceived.emit(msg.room, msg)

    async def _on_status_event(self, data: dict[str, Any]) -> None:
        state = (DeliveryStatus.READ if data.get("state") == DeliveryState.READ
                 else DeliveryStatus.DELIVERED)
        self.messages.apply_status(str(data["room"]), int(data["up_to"]), state,
                                   int(data.get("count") or 0), int(data.get("of") or 0))

    async def _on_presence_event(self, data: dict[str, Any]) -> None:
        user = str(data.get("user") or "")
        state = data.get("state")
        room = data.get("room")
        if state in ("online", "offline"):
            self.members.set_online(user, state == "online")
        elif state == "joined" and room in self._members_loaded:
            self.members.add(str(room), user)
        elif state == "left" and room in self._members_loaded:
            self.members.remove(str(room), user)

    async def _on_typing_event(self, data: dict[str, Any]) -> None:
        room, user = str(data.get("room") or ""), str(data.get("user") or "")
        if not room or not user or self._is_own_name(user):
            return
        users = self._typing.setdefault(room, {})
        if data.get("typing"):
            users[user.lower()] = time.monotonic() + TYPING_EXPIRY_S
            self._typing_names[user.lower()] = user
        else:
            users.pop(user.lower(), None)
        self._emit_typing(room)

    async def _on_room_added_event(self, data: dict[str, Any]) -> None:
        room = Room.from_wire(data["room"])
        room.joined = True
        self.rooms.upsert(room)
        self.roomAdded.emit(room.id)
        self._spawn(self._load_newest(room.id))

    async def _on_room_updated_event(self, data: dict[str, Any]) -> None:
        room = Room.from_wire(data["room"])
        old = self.rooms.get(room.id)
        if old is not None:
            room.unread = old.unread  # counted locally between rooms:list calls
            room.joined = old.joined
        self.rooms.upsert(room)

    async def _on_room_closed_event(self, data: dict[str, Any]) -> None:
        self._forget_room(str(data.get("room") or ""))

    async def _on_notice_event(self, data: dict[str, Any]) -> None:
        self.noticeReceived.emit(str(data.get("text") or ""), str(data.get("level") or "info"))

    def _forget_room(self, room_id: str) -> None:
        if not room_id:
            return
        for entry in self.outbox.entries():
            if entry.room == room_id:
                self.outbox.remove(entry.client_id)
        self.rooms.remove(room_id)
        self.messages.clear_room(room_id)
        self.members.drop_room(room_id)
        self._members_loaded.discard(room_id)
        self._typing.pop(room_id, None)
        if self._active_room == room_id:
            self._active_room = None
        self.roomClosed.emit(room_id)

    # ------------------------------------------------------------------ requests
    async def join_room(self, room: str) -> Room:
        ack = await self._call(Event.ROOM_JOIN, {"room": room})
        joined = Room.from_wire(ack["room"])
        joined.joined = True
        self.rooms.upsert(joined)
        self.members.set_members(room, [Member.from_wire(m) for m in ack.get("members", [])])
        self._members_loaded.add(room)
        msgs = self._take_history(joined.id, ack.get("messages", []))
        self._older_more.setdefault(joined.id, True)
        if msgs and msgs[-1].id is not None:
            self._schedule_receipt(joined.id, DeliveryState.DELIVERED, msgs[-1].id)
        self.roomAdded.emit(joined.id)
        return joined

    async def leave_room(self, room: str) -> None:
        await self._call(Event.ROOM_LEAVE, {"room": room})
        existing = self.rooms.get(room)
        self._forget_room(room)
        if existing is not None and existing.kind == "public":
            existing.joined = False
            existing.unread = 0
            self.rooms.upsert(existing)

    async def create_room(self, name: str, topic: str = "", private: bool = False) -> Room:
        payload: dict[str, Any] = {"name": name, "private": private}
        if topic:
            payload["topic"] = topic
        ack = await self._call(Event.ROOM_CREATE, payload)
        room = Room.from_wire(ack["room"])
        room.joined = True
        self.rooms.upsert(room)
        self.members.set_members(room.id, [Member(self.username or "", True)])
        self._members_loaded.add(room.id)
        await self._load_newest(room.id)
        self.roomAdded.emit(room.id)
        return room

    async def invite(self, room: str, user: str) -> None:
        await self._call(Event.ROOM_INVITE, {"room": room, "user": user})

    async def set_topic(self, room: str, topic: str) -> Room:
        ack = await self._call(Event.ROOM_TOPIC, {"room": room, "topic": topic})
        updated = Room.from_wire(ack["room"])
        old = self.rooms.get(updated.id)
        if old is not None:
            updated.unread = old.unread
        updated.joined = True
        self.rooms.upsert(updated)
        return updated

    async def close_room(self, room: str) -> None:
        await self._call(Event.ROOM_CLOSE, {"room": room})
        if room in self.rooms:
            self._forget_room(room)

    async def open_dm(self, user: str) -> Room:
        ack = await self._call(Event.DM_OPEN, {"user": user})
        room = Room.from_wire(ack["room"])
        room.joined = True
        old = self.rooms.get(room.id)
        is_new = old is None or not old.joined
        self.rooms.upsert(room)
        if is_new:
            await self._load_newest(room.id)
            self.roomAdded.emit(room.id)
        return room

    async def browse_rooms(self) -> list[Room]:
        """Public rooms this user is not in (refreshes the room list)."""
        ack = await self._call(Event.ROOMS_LIST, {})
        for raw in ack.get("rooms", []):
            room = Room.from_wire(raw)
            old = self.rooms.get(room.id)
            if old is not None and old.joined == room.joined:
                room.unread = old.unread
                if room.last_message is None:
                    room.last_message = old.last_message
            self.rooms.upsert(room)
        return self.rooms.browsable()

    async def load_older(self, room: str) -> int:
        """Load the page before the oldest loaded message; 0 means nothing older."""
        oldest = self.messages.oldest_id(room)
        if oldest is None:
            return await self._load_newest(room)
        if not self._older_more.get(room, True):
            return 0
        ack = await self._call(Event.MESSAGE_HISTORY,
                               {"room": room, "before": oldest, "limit": DEFAULT_HISTORY_PAGE})
        msgs = [Message.from_wire(m) for m in ack.get("messages", [])]
        added = self.messages.add_many(room, msgs)
        self._older_more[room] = bool(ack.get("has_more"))
        return added

    async def fetch_media(self, image_id: str) -> tuple[str, str, bytes]:
        """(mime, name, bytes) of a posted image; cached (LRU by bytes)."""
        cached = self._media_cache.get(image_id)
        if cached is not None:
            self._media_cache.move_to_end(image_id)
            return cached
        inflight = self._media_inflight.get(image_id)
        if inflight is not None:
            return await asyncio.shield(inflight)
        fut: asyncio.Future[tuple[str, str, bytes]] = (
            asyncio.get_running_loop().create_future())
        self._media_inflight[image_id] = fut
        try:
            ack = await self._call(Event.MEDIA_GET, {"id": image_id}, timeout=SEND_TIMEOUT_S)
            data = ack.get("data") or b""
            result = (str(ack.get("mime") or ""), str(ack.get("name") or ""), bytes(data))
            self._cache_media(image_id, result)
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._media_inflight.pop(image_id, None)

    def _cache_media(self, image_id: str, item: tuple[str, str, bytes]) -> None:
        size = len(item[2])
        if size > MEDIA_CACHE_BYTES // 4:
            return
        self._media_cache[image_id] = item
        self._media_cache_bytes += size
        while self._media_cache_bytes > MEDIA_CACHE_BYTES and self._media_cache:
            _, (_, _, old) = self._media_cache.popitem(last=False)
            self._media_cache_bytes -= len(old)

    async def _load_newest(self, room: str) -> int:
        ack = await self._call(Event.MESSAGE_HISTORY,
                               {"room": room, "limit": DEFAULT_HISTORY_PAGE})
        before = self.messages.count(room)
        msgs = self._take_history(room, ack.get("messages", []))
        self._older_more[room] = bool(ack.get("has_more"))
        if msgs and msgs[-1].id is not None:
            self._schedule_receipt(room, DeliveryState.DELIVERED, msgs[-1].id)
            self._send_read_if_visible()
        return self.messages.count(room) - before

    async def _refresh_members(self, room: str) -> None:
        try:
            ack = await self._call(Event.ROOM_MEMBERS, {"room": room})
        except RequestError as exc:
            logger.info("could not list members of a room: %s", exc.code)
            return
        self.members.set_members(room, [Member.from_wire(m) for m in ack.get("members", [])])
        self._members_loaded.add(room)

    async def _call(self, event: str, data: dict[str, Any],
                    timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """Emit with an ack and return the ok ack, or raise RequestError."""
        sio, lost = self._sio, self._lost
        if sio is None or lost is None or lost.done() or not sio.connected:
            raise RequestError("offline", "Not connected to the server")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def on_ack(*args: Any) -> None:
            if not answer.done():
                answer.set_result(args[0] if args else None)

        # python-socketio's emit is not safe to interleave (binary attachments)
        try:
            async with self._emit_lock:
                await sio.emit(str(event), data, callback=on_ack)
        except (socketio.exceptions.SocketIOError, OSError) as exc:
            # the socket went away between our check and the emit
            raise RequestError("offline", "The connection to the server was lost") from exc
        await asyncio.wait({answer, lost}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            if lost.done():
                raise RequestError("offline", "The connection to the server was lost")
            raise RequestError("timeout", "The server did not answer in time")
        ack = answer.result()
        if not isinstance(ack, dict):
            raise RequestError(ErrorCode.INTERNAL, "Unexpected answer from the server")
        if ack.get("ok"):
            return ack
        raw_err = ack.get("error")
        err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
        raise RequestError(str(err.get("code") or ErrorCode.INTERNAL),
                           str(err.get("message") or "The server refused the request"))

    # ------------------------------------------------------------------ sending
    def send_text(self, room: str, text: str) -> str:
        """Show a pending echo now, queue it on disk, send when connected."""
        return self._queue(room, text=text)

    def send_image(self, room: str, data: bytes, name: str, caption: str = "") -> str:
        return self._queue(room, text=caption, image=bytes(data), image_name=name)

    def retry(self, client_id: str) -> None:
        if self.outbox.mark_retry(client_id) is None:
            return
        self.messages.mark_pending(client_id)
        self._flush_wake.set()

    def discard(self, client_id: str) -> None:
        """Drop a failed (or still pending) message for good."""
        self.outbox.remove(client_id)
        self.messages.remove_pending(client_id)

    def _queue(self, room: str, text: str = "", image: bytes | None = None,
               image_name: str | None = None) -> str:
        username = self.username or self._auth.get("username") or ""
        client_id = str(uuid.uuid4())
        entry = OutboxEntry(client_id=client_id, room=room, username=username,
                            ts=int(time.time() * 1000), text=text, image_name=image_name)
        self.outbox.add(entry, image)
        self.messages.add_pending(self._echo_for(entry, image))
        self._flush_wake.set()
        return client_id

    def _echo_for(self, entry: OutboxEntry, image: bytes | None) -> Message:
        info = None
        if image is not None:
            info = ImageInfo(id="", mime=_sniff_mime(image), name=entry.image_name or "",
                             size=len(image), width=0, height=0, thumb=None)
        return Message(
            id=None, room=entry.room, sender=entry.username, ts=entry.ts,
            kind="image" if image is not None else "text", text=entry.text,
            client_id=entry.client_id, image=info,
            status=DeliveryStatus.FAILED if entry.failed else DeliveryStatus.PENDING,
            local_image=image, error=entry.error,
        )

    def _restore_outbox_echoes(self) -> None:
        """Show what an earlier run left unsent (once per session user)."""
        if not self.username:
            return
        orphans = [e for e in self.outbox.entries() if not e.username]
        for entry in orphans:  # queued before a token sign-in told us who we are
            entry.username = self.username
        if orphans:
            self.outbox.save()
        for entry in self.outbox.entries(self.username):
            if self.messages.find_client_id(entry.client_id) is None:
                self.messages.add_pending(self._echo_for(entry, self.outbox.image_bytes(entry)))

    async def _flush_outbox(self) -> None:
        """Send queued messages one at a time, in order, while connected."""
        while self._ready:
            self._flush_wake.clear()
            for entry in self.outbox.sendable(self.username or ""):
                if not self._ready:
                    return
                if self.outbox.get(entry.client_id) is None or entry.failed:
                    continue  # discarded or failed meanwhile
                await self._send_entry(entry)
            await self._flush_wake.wait()

    async def _send_entry(self, entry: OutboxEntry) -> None:
        payload: dict[str, Any] = {"room": entry.room, "client_id": entry.client_id}
        if entry.text:
            payload["text"] = entry.text
        if entry.image_file is not None:
            data = self.outbox.image_bytes(entry)
            if data is None:
                self._fail(entry, "The image file is missing")
                return
            image: dict[str, Any] = {"data": data}
            if entry.image_name:
                image["name"] = entry.image_name
            payload["image"] = image
        backoff = 1.0
        while self._ready:
            self.outbox.note_attempt(entry.client_id)
            try:
                ack = await self._call(Event.MESSAGE_SEND, payload, timeout=SEND_TIMEOUT_S)
            except RequestError as exc:
                if exc.code == "offline":
                    return  # resent after the reconnect, same client_id
                if not is_retryable(exc.code):
                    self._fail(entry, exc.message)
                    return
                if entry.attempts >= MAX_SEND_ATTEMPTS:
                    self._fail(entry, f"Not sent after {entry.attempts} tries ({exc.message})")
                    return
                logger.info("send will be retried in %.0fs: %s", backoff, exc.code)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            msg = Message.from_wire(ack["message"])
            self.messages.add(msg)
            self.outbox.remove(entry.client_id)
            self.rooms.set_last_message(msg.room, msg)
            return

    def _fail(self, entry: OutboxEntry, reason: str) -> None:
        self.outbox.mark_failed(entry.client_id, reason)
        self.messages.mark_failed(entry.client_id, reason)
        self.errorOccurred.emit(f"Message not sent: {reason}")

    # ------------------------------------------------------------------ receipts & read
    def set_active_room(self, room: str | None) -> None:
        if room != self._active_room and self._receipts_due and self._ready:
            self._spawn(self._flush_receipts())  # leaving a room: do not sit on its receipts
        self._active_room = room
        if room is not None and room not in self._members_loaded and self._ready:
            self._spawn(self._refresh_members(room))
        self._send_read_if_visible()

    def set_window_focused(self, focused: bool) -> None:
        self._focused = focused
        self._send_read_if_visible()

    def mark_read(self, room: str) -> None:
        """The user has seen ``room`` up to its newest message."""
        self.rooms.set_unread(room, 0)
        newest = self.messages.newest_id(room)
        if newest is not None:
            self._schedule_receipt(room, DeliveryState.READ, newest)

    def _room_visible(self, room: str) -> bool:
        return self._focused and room == self._active_room

    def _send_read_if_visible(self) -> None:
        if self._active_room is not None and self._focused:
            self.mark_read(self._active_room)

    def _schedule_receipt(self, room: str, state: str, message_id: int) -> None:
        """Coalesce receipts: one per room and state per RECEIPT_DEBOUNCE_S, only if it
        moves up (flushed at once on a room switch and before disconnecting)."""
        key = (room, str(state))
        if message_id <= max(self._receipts_due.get(key, 0), self._receipts_sent.get(key, 0)):
            return
        self._receipts_due[key] = message_id
        if not self._receipts_scheduled and self._ready:
            self._receipts_scheduled = True
            self._spawn(self._send_receipts())

    async def _send_receipts(self) -> None:
        try:
            await asyncio.sleep(self.receipt_debounce_s)  # let the rest of a flood land first
        finally:
            self._receipts_scheduled = False
        await self._flush_receipts()

    async def _flush_receipts(self) -> None:
        due, self._receipts_due = self._receipts_due, {}
        for (room, state), message_id in due.items():
            if message_id <= self._receipts_sent.get((room, state), 0):
                continue
            try:
                await self._call(Event.MESSAGE_RECEIPT,
                                 {"room": room, "id": message_id, "state": state})
            except RequestError as exc:
                logger.info("receipt not sent: %s", exc.code)
                if exc.code in ("offline", "timeout"):
                    continue
            else:
                self._receipts_sent[(room, state)] = message_id

    # ------------------------------------------------------------------ typing
    def set_typing(self, room: str, typing: bool) -> None:
        """Call on every keystroke (True) and when the draft is sent or cleared (False)."""
        if not self._ready:
            return
        now = time.monotonic()
        last = self._typing_sent.get(room)
        if typing:
            # a little slack so a caller refreshing every TYPING_REFRESH_S is never skipped
            if last is not None and now - last < TYPING_REFRESH_S - 0.5:
                return
            self._typing_sent[room] = now
        else:
            if last is None:
                return
            del self._typing_sent[room]
        self._spawn(self._emit_typing_event(room, typing))

    async def _emit_typing_event(self, room: str, typing: bool) -> None:
        sio = self._sio
        if sio is None or not sio.connected:
            return
        try:
            async with self._emit_lock:
                await sio.emit(str(Event.TYPING), {"room": room, "typing": typing})
        except (socketio.exceptions.SocketIOError, OSError):
            logger.debug("typing not sent: connection gone")

    def _on_typing_timer_timeout(self) -> None:
        now = time.monotonic()
        for room, users in list(self._typing.items()):
            expired = [u for u, until in users.items() if until <= now]
            for user in expired:
                del users[user]
            if expired:
                self._emit_typing(room)

    def _emit_typing(self, room: str) -> None:
        self.typingChanged.emit(room, self.typing_users(room))

    def typing_users(self, room: str) -> list[str]:
        """Who is typing in ``room`` now (expired ones already dropped)."""
        return sorted(self._typing_names.get(u, u) for u in self._typing.get(room, {}))

    # ------------------------------------------------------------------ helpers
    def _set_state(self, state: str, retry_in: int = 0) -> None:
        self.state = state
        self.connectionStateChanged.emit(state, retry_in)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, RequestError):
            logger.info("background request failed: %s", exc.code)
        elif exc is not None:
            logger.error("background task failed", exc_info=exc)

    def _is_own(self, msg: Message) -> bool:
        return msg.sender is not None and self._is_own_name(msg.sender)

    def _is_own_name(self, name: str) -> bool:
        return self.username is not None and name.lower() == self.username.lower()

    def _unreachable_text(self, exc: BaseException) -> str:
        if isinstance(exc, RequestError) and exc.code == ErrorCode.RATE_LIMITED:
            return f"The server at {self._url} is busy: {exc.message}. Retrying shortly."
        if isinstance(exc, RequestError):
            return f"The server at {self._url} did not answer: {exc.message}"
        return f"Could not reach server at {self._url}"

    def _refusal_text(self, refusal: tuple[str, str], auth: dict[str, str]) -> str:
        code, message = refusal
        user = auth.get("username")
        if code == ErrorCode.UNAUTHORIZED:
            if "token" in auth:
                return "Your session has expired. Please sign in again."
            if user and (not message or "password" in message.lower()):
                return f"Wrong password for {user}"
            return f"Could not sign in as {user}: {message}" if user else message
        if code == ErrorCode.BAD_REQUEST:
            return message or "The server did not accept these sign-in details"
        return message or code


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


def _sniff_mime(data: bytes) -> str:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
