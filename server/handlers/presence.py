"""Presence: connections coming and going, ``presence``, ``typing`` and operator notices."""

from __future__ import annotations

import logging
from typing import Any

from server.connections import Connection, user_channel
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext
from server.protocol import ErrorCode, Event
from server.storage.base import User
from server.validation import require_room_id

logger = logging.getLogger(__name__)


class PresenceHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        # the session event of each connection whose connect handler has not finished yet
        self._pending_session: dict[str, dict[str, Any]] = {}

    def prepare_session(self, conn: Connection, session: dict[str, Any]) -> bool:
        """Register the connection; returns False if the user has too many already."""
        ctx = self.ctx
        if ctx.connections.count(conn.user.id) >= ctx.config.max_connections_per_user:
            return False
        self._pending_session[conn.sid] = session
        ctx.connections.add(conn)
        ctx.metrics.connections_total += 1
        return True

    async def connection_up(self, conn: Connection) -> None:
        """Send ``session`` first, then subscribe to every member room and announce presence."""
        sio = self.ctx.sio
        try:
            room_ids = await self.ctx.storage.member_room_ids(conn.user.id)
            # subscribe right behind the session event, with no storage round trip between:
            # whatever the client's catch-up history misses then arrives as events
            await sio.emit(Event.SESSION, self._pending_session.pop(conn.sid), to=conn.sid)
            await sio.enter_room(conn.sid, user_channel(conn.user.id))
            for room_id in room_ids:
                await sio.enter_room(conn.sid, room_id)
            if conn.first and room_ids:
                await self._presence(conn.user, room_ids, "online")
        finally:
            conn.ready.set()

    async def connection_down(self, sid: str) -> None:
        self._pending_session.pop(sid, None)
        conn, last = self.ctx.connections.remove(sid)
        if conn is None or not last:
            return
        room_ids = await self.ctx.storage.member_room_ids(conn.user.id)
        if room_ids:
            await self._presence(conn.user, room_ids, "offline")

    async def _presence(self, user: User, room_ids: list[str], state: str) -> None:
        # one event per connection however many rooms it shares: emit to the union of rooms
        await self.ctx.sio.emit(
            Event.PRESENCE,
            {"user": user.name, "state": state},
            to=room_ids,
            skip_sid=self.ctx.connections.sids(user.id) or None,
        )

    async def typing(self, user: User, payload: dict[str, Any], sid: str) -> None:
        room_id = require_room_id(payload.get("room"))
        state = payload.get("typing")
        if not isinstance(state, bool):
            raise bad_request("typing must be true or false.")
        if not await self.ctx.storage.is_member(room_id, user.id):
            raise ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room_id}.")
        await self.ctx.sio.emit(
            Event.TYPING,
            {"room": room_id, "user": user.name, "typing": state},
            to=room_id,
            skip_sid=self.ctx.connections.sids(user.id) or sid,
        )

    async def broadcast_notice(self, text: str, level: str = "info") -> None:
        """Send an operator ``notice`` to every connection (in-process API for operators)."""
        if level not in ("info", "warning"):
            raise ValueError(f"notice level must be info or warning, not {level!r}")
        await self.ctx.sio.emit(Event.NOTICE, {"text": text, "level": level})
