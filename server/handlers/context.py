"""What every handler shares, and the room helpers that more than one of them needs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import socketio

from server.cluster.link import NodeLink
from server.config import ServerConfig
from server.connections import ConnectionRegistry
from server.errors import ProtocolError
from server.handlers.ordering import RoomChangeOrder
from server.protocol import FEATURES, ErrorCode, Event
from server.storage.base import MemberPosition, MessageRecord, NewMessage, RoomRecord, Storage, User
from server.validation import require_room_id
from server.wire import message_to_wire, room_to_wire

logger = logging.getLogger(__name__)

_SYSTEM_TEXT = {
    "created": "{user} created the room",
    "joined": "{user} joined",
    "left": "{user} left",
    "topic": "{user} changed the topic",
    "invited": "{user} was invited",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def system_text(event: str, user: str, detail: str | None = None) -> str:
    """The readable line of a system message; a topic change quotes the new topic."""
    text = _SYSTEM_TEXT[event].format(user=user)
    if event == "topic":
        text = (
            f"{user} changed the topic to \u201c{detail}\u201d"
            if detail
            else f"{user} cleared the topic"
        )
    return text


def not_member(room: RoomRecord) -> ProtocolError:
    """The error for a non-member: a private room or DM is indistinguishable from none at all.

    Public rooms are listed to everyone, so ``forbidden`` gives nothing away there; for the
    others ``not_found`` (with the very message of a missing room) keeps them undetectable.
    """
    if room.kind == "public":
        return ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room.id}.")
    return ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {room.id}.")


@dataclass
class Metrics:
    """Counters exported on /metrics."""

    messages_total: int = 0
    images_total: int = 0
    logins_total: int = 0
    failed_logins_total: int = 0
    registrations_total: int = 0
    connections_total: int = 0
    refused_connections: Counter[str] = field(default_factory=Counter)
    error_acks: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.time)


class Features:
    """What ``session.server.features`` lists: each handler adds the features it implements.

    A handler adds its names when it is built (``ctx.features.add("search")``), so the list
    never claims what this server does not do. Known names come in the protocol's order.
    """

    def __init__(self) -> None:
        self._names: list[str] = []

    def add(self, *names: str) -> None:
        for name in names:
            if name not in self._names:
                self._names.append(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def wire(self) -> list[str]:
        order = {name: i for i, name in enumerate(FEATURES)}
        return sorted(self._names, key=lambda n: (order.get(n, len(order)), n))


class LocalEmitter:
    """``emit`` to this process's sockets only (``ignore_queue``: a cluster node has already
    published the event to the others, which deliver it through their own ordering)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def emit(self, event: str, data: Any, to: Any = None, skip_sid: Any = None) -> None:
        await self._sio.emit(event, data, to=to, skip_sid=skip_sid, ignore_queue=True)


class HandlerContext:
    """The shared parts of every handler; owns the background tasks they start."""

    def __init__(self, config: ServerConfig, storage: Storage, sio: socketio.AsyncServer) -> None:
        self.config = config
        self.storage = storage
        self.sio = sio
        self.connections = ConnectionRegistry()
        self.metrics = Metrics()
        self.features = Features()
        self._background: set[asyncio.Task[None]] = set()
        # the other nodes of a cluster (server.cluster); the plain link does nothing
        self.link = NodeLink()
        self.change_order = RoomChangeOrder(LocalEmitter(sio), self.spawn)  # type: ignore[arg-type]

    # -- background work --------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; :meth:`stop` cancels it before storage closes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        self.change_order.close()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- rooms ------------------------------------------------------------------------------

    async def room(self, room_id: object) -> RoomRecord:
        rid = require_room_id(room_id)
        room = await self.storage.get_room(rid)
        if room is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {rid}.")
        return room

    async def member_room(self, user: User, room_id: object) -> RoomRecord:
        room = await self.room(room_id)
        if not await self.storage.is_member(room.id, user.id):
            raise not_member(room)
        return room

    async def room_wire(self, room_id: str, user: User) -> dict[str, Any]:
        view = await self.storage.room_view(room_id, user.id)
        if view is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {room_id}.")
        positions = None
        if view.last_message is not None and view.last_message.sender_id == user.id:
            positions = await self.storage.members(room_id)
        return room_to_wire(view, user, positions)

    def members_wire(self, positions: list[MemberPosition]) -> list[dict[str, Any]]:
        return [
            {"name": p.name, "online": self.connections.is_online(p.user_id)} for p in positions
        ]

    async def enter(self, user_id: int, room_id: str) -> None:
        """Subscribe every live connection of the user to the room."""
        for sid in self.connections.sids(user_id):
            await self.sio.enter_room(sid, room_id)
        self.link.entered(user_id, room_id)

    async def leave(self, user_id: int, room_id: str) -> None:
        for sid in self.connections.sids(user_id):
            await self.sio.leave_room(sid, room_id)
        self.link.left(user_id, room_id)

    async def system(
        self, room_id: str, event: str, user: str, skip_sid: str | None, detail: str | None = None
    ) -> MessageRecord:
        """Store a system message and broadcast it to the room."""
        record, _ = await self.storage.insert_message(
            NewMessage(
                room=room_id,
                sender_id=None,
                ts=now_ms(),
                kind="system",
                text=system_text(event, user, detail),
                system_event=event,
                system_user=user,
            )
        )
        await self.broadcast_change(record, Event.MESSAGE, message_to_wire(record), skip_sid)
        return record

    async def broadcast_change(
        self, record: MessageRecord, event: str, data: Any, skip_sid: str | None
    ) -> None:
        """Send a stored change to the room, in the room's seq order (see handlers.ordering).

        In a cluster every node orders every node's changes of the room itself: the link
        publishes this one, and each receiving node feeds it to its own ``change_order``.
        """
        self.link.change(record.room, record.seq, event, data)
        await self.change_order.broadcast(record.room, record.seq, event, data, skip_sid)
