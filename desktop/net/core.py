"""ClientCore: what every part of the ChatClient service shares.

The service is split by concern, the way Synapse splits its handlers: ``connection``
(connect, reconnect, sign-in), ``rooms``, ``sending`` (outbox and echoes), ``receipts``,
``presence`` (typing and online dots) and ``media``. Each is a mixin over this core, and
``desktop.net.client.ChatClient`` puts them together into the one QObject the UI sees, so
the signals and public methods stay where they always were. The core holds the signals,
the shared stores, the request primitive ``_call`` and the task bookkeeping; a concern
calls another only through the few hooks declared here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import socketio
from PySide6.QtCore import QObject, Signal

from desktop.models.member_list import MemberListModel
from desktop.models.message_list import MessageListModel
from desktop.models.room_list import RoomListModel
from desktop.net.outbox import Outbox, OutboxEntry
from desktop.net.tasks import cancel_and_wait
from desktop.state.members import MemberStore
from desktop.state.messages import MessageStore
from desktop.state.rooms import RoomStore
from desktop.state.types import Message, ReplyPreview
from server.protocol import ErrorCode

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 15.0
SEND_TIMEOUT_S = 30.0


class RequestError(Exception):
    """A request failed; ``code`` is a protocol error code (or "offline"/"timeout")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class ClientCore(QObject):
    """Signals, stores and primitives shared by the concerns (see the module doc)."""

    connectionStateChanged = Signal(str, int)
    sessionStarted = Signal(str)
    sessionRefused = Signal(str, str)
    errorOccurred = Signal(str)
    limitsChanged = Signal(dict)
    roomAdded = Signal(str)
    roomClosed = Signal(str)
    typingChanged = Signal(str, list)
    messageReceived = Signal(str, object)
    noticeReceived = Signal(str, str)
    mediaDropped = Signal(str)

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
        self._limits: dict[str, Any] = {}
        self._server_info: dict[str, Any] = {}
        self._media_cache: OrderedDict[str, tuple[str, str, bytes]] = OrderedDict()
        self._media_cache_bytes = 0
        self._message_models: dict[str, MessageListModel] = {}
        self._member_models: dict[str, MemberListModel] = {}
        self._url: str | None = None
        self._auth: dict[str, str] = {}
        self._sio: socketio.AsyncClient | None = None
        self._lost: asyncio.Future[None] | None = None
        self._ready = False  # connected, session up, caught up: sends may flow
        self._emit_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active_room: str | None = None
        self._focused = True
        self._members_loaded: set[str] = set()  # rooms whose full member list we fetched

    # ------------------------------------------------------------------ hooks
    # Implemented by the concern named in each docstring; declared here so the others
    # (and the type checker) can call them.
    async def _catch_up(self, anchors: dict[str, int | None]) -> None:
        """rooms: fetch the room list and every missed message."""
        raise NotImplementedError

    async def _refresh_members(self, room: str) -> None:
        """rooms: fetch a room's member list."""
        raise NotImplementedError

    def _restore_outbox_echoes(self) -> None:
        """sending: show what an earlier run left unsent."""
        raise NotImplementedError

    async def _catch_up_changes(self, room: str, since: int) -> None:
        """conversation: page through a room's ``message:changes`` from ``since``."""
        raise NotImplementedError

    def _speaks_v2(self) -> bool:
        """Whether the server announced protocol 2 (else only version 1 is used)."""
        try:
            return int(self._server_info.get("protocol") or 1) >= 2
        except (TypeError, ValueError):
            return False

    async def _send_change(self, entry: OutboxEntry) -> None:
        """conversation: send a queued edit, delete or reaction."""
        raise NotImplementedError

    def _restore_change(self, entry: OutboxEntry) -> None:
        """conversation: show a queued edit an earlier run left unsent."""
        raise NotImplementedError

    def _quote_of(self, room: str, parent_id: int | None) -> ReplyPreview | None:
        """conversation: the quote of a held message, for a reply's echo."""
        raise NotImplementedError

    def _start_flushing(self) -> None:
        """sending: start sending the outbox (the session is ready)."""
        raise NotImplementedError

    async def _stop_flushing(self) -> None:
        """sending: stop sending (the connection is going away)."""
        raise NotImplementedError

    def _schedule_receipt(self, room: str, state: str, message_id: int) -> None:
        """receipts: send a delivered/read receipt soon."""
        raise NotImplementedError

    def _send_read_if_visible(self) -> None:
        """receipts: the room on screen in a focused window is read."""
        raise NotImplementedError

    def _resume_receipts(self) -> None:
        """receipts: send what piled up while offline."""
        raise NotImplementedError

    def _forget_typing(self, room: str | None = None) -> None:
        """presence: drop who is typing (in one room, or everywhere)."""
        raise NotImplementedError

    async def _flush_receipts_before_leaving(self) -> None:
        """receipts: send what was seen before the connection goes."""
        raise NotImplementedError

    def _start_typing_timer(self) -> None:
        """presence: expire typing indicators while connected."""
        raise NotImplementedError

    def _stop_typing_timer(self) -> None:
        """presence: stop expiring typing indicators."""
        raise NotImplementedError

    def _stop_typing_of(self, room: str, sender: str | None) -> None:
        """presence: a message from ``sender`` ends their typing there."""
        raise NotImplementedError

    def _forget_state(self) -> None:
        """Another server or account: each concern drops what it knew of the old one
        (cooperatively, through super())."""

    def _event_handlers(self) -> dict[str, Callable[..., Awaitable[None]]]:
        """Every concern adds its server events (cooperatively, through super())."""
        return {}

    def _on_window_focus_regained(self) -> None:
        """connection: the user is back at the window (a chance to reconnect now)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ requests
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

    async def _cancel_tasks(self) -> None:
        await cancel_and_wait(*self._tasks)  # one cancel() may be swallowed: desktop.net.tasks
        self._tasks.clear()

    def _is_own(self, msg: Message) -> bool:
        return msg.sender is not None and self._is_own_name(msg.sender)

    def _is_own_name(self, name: str) -> bool:
        return self.username is not None and name.lower() == self.username.lower()
