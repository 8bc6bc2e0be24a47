"""Presence: connections coming and going, ``presence``, ``typing`` and operator notices."""

from __future__ import annotations

import logging
import time
from typing import Any

from server.connections import Connection, user_channel
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, not_member
from server.protocol import TYPING_EXPIRY_S, TYPING_REFRESH_S, ErrorCode, Event
from server.ratelimit import SlidingWindow
from server.storage.base import User
from server.validation import require_room_id

logger = logging.getLogger(__name__)

# a repeated typing state is relayed at most this often (clients refresh every 3 s)
_TYPING_REPEAT_S = TYPING_REFRESH_S / 2
# typing broadcasts per user in any 10 s, across rooms and states
_TYPING_PER_10S = 20


class PresenceHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        # the session event of each connection whose connect handler has not finished yet
        self._pending_session: dict[str, dict[str, Any]] = {}
        # (user, room) -> the typing state last broadcast and when
        self._typing_sent: dict[tuple[int, str], tuple[bool, float]] = {}
        self._typing_budget = SlidingWindow(_TYPING_PER_10S, 10.0)

    async def prepare_session(self, conn: Connection, session: dict[str, Any]) -> bool:
        """Register the connection; returns False if the user has too many already.

        The limit and "first connection" (presence goes online) count the user's
        connections on every node of a cluster (``ctx.link``), here only otherwise.
        """
        ctx = self.ctx
        limit = ctx.config.max_connections_per_user
        local = ctx.connections.count(conn.user.id)
        if local >= limit:
            return False
        allowed, first = await ctx.link.admit(conn.user, local, limit)
        if not allowed:
            return False
        self._pending_session[conn.sid] = session
        ctx.connections.add(conn)
        conn.first = first
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
        if conn is None:
            return
        if not await self.ctx.link.release(conn.user, last):
            return
        room_ids = await self.ctx.storage.member_room_ids(conn.user.id)
        if room_ids:
            await self._presence(conn.user, room_ids, "offline")

    async def announce(self, user: User, state: str) -> None:
        """Presence ``state`` to every room of the user (a cluster node's users went offline
        with it, or came back)."""
        room_ids = await self.ctx.storage.member_room_ids(user.id)
        if room_ids:
            await self._presence(user, room_ids, state)

    async def _presence(self, user: User, room_ids: list[str], state: str) -> None:
        # one event per connection however many rooms it shares: emit to the union of rooms
        await self.ctx.sio.emit(
            Event.PRESENCE,
            {"user": user.name, "state": state},
            to=room_ids,
            skip_sid=self.ctx.connections.skip_user(user.id),
        )

    async def typing(self, user: User, payload: dict[str, Any], sid: str) -> None:
        """Relay a typing state; repeats are coalesced rather than refused.

        A client refreshes "typing: true" every few seconds; anything more often than that
        (or a repeat of the same state) is acknowledged but not broadcast, so a client that
        spams typing costs the room nothing.
        """
        room_id = require_room_id(payload.get("room"))
        state = payload.get("typing")
        if not isinstance(state, bool):
            raise bad_request("typing must be true or false.")
        if not await self.ctx.storage.is_member(room_id, user.id):
            room = await self.ctx.storage.get_room(room_id)
            if room is None:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {room_id}.")
            raise not_member(room)
        key = (user.id, room_id)
        now = time.monotonic()
        last = self._typing_sent.get(key)
        if last is not None and last[0] == state and now - last[1] < _TYPING_REPEAT_S:
            return
        if not self._typing_budget.allow(str(user.id)):
            return  # flapping true/false: dropped; receivers expire a stale state themselves
        self._typing_sent[key] = (state, now)
        if len(self._typing_sent) > 50_000:
            horizon = now - TYPING_EXPIRY_S
            self._typing_sent = {k: v for k, v in self._typing_sent.items() if v[1] > horizon}
        await self.ctx.sio.emit(
            Event.TYPING,
            {"room": room_id, "user": user.name, "typing": state},
            to=room_id,
            skip_sid=self.ctx.connections.skip_user(user.id) or [sid],
        )

    async def broadcast_notice(self, text: str, level: str = "info") -> None:
        """Send an operator ``notice`` to every connection (in-process API for operators)."""
        if level not in ("info", "warning"):
            raise ValueError(f"notice level must be info or warning, not {level!r}")
        await self.ctx.sio.emit(Event.NOTICE, {"text": text, "level": level})
