"""Receipts: cumulative positions, ``message:status`` to senders, and delivery waits."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from server.connections import user_channel
from server.errors import bad_request
from server.handlers.context import HandlerContext, not_member
from server.protocol import Event
from server.storage.base import MessageRecord, PositionState, RoomRecord, User
from server.validation import message_id, require_str

logger = logging.getLogger(__name__)

# how often a cluster node re-reads positions while an HTTP sender waits for delivery
_CLUSTER_POLL_S = 0.2


@dataclass
class _DeliveryWaiter:
    message_id: int
    pending: set[int]
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ReceiptHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self._waiters: dict[str, list[_DeliveryWaiter]] = {}
        # (user, room, state) -> the highest id asked for while a write for it is running
        self._pending: dict[tuple[int, str, str], int] = {}

    async def receipt(self, user: User, payload: dict[str, Any]) -> None:
        """Advance a receipt position; a burst for one position coalesces into few writes.

        While a write for (user, room, state) runs, further receipts only raise the target
        it moves on to next, so a client spamming receipts costs at most two writes at a time
        instead of one per event (receipts are cumulative: only the highest id matters).
        """
        room = await self.ctx.room(payload.get("room"))
        mid = message_id(payload.get("id"), "id")
        state = require_str(payload, "state")
        if state not in ("delivered", "read"):
            raise bad_request('state must be "delivered" or "read".')
        if not await self.ctx.storage.is_member(room.id, user.id):
            raise not_member(room)
        key = (user.id, room.id, state)
        if key in self._pending:
            self._pending[key] = max(self._pending[key], mid)
            return
        self._pending[key] = mid
        try:
            done = 0
            while self._pending[key] > done:
                done = self._pending[key]
                await self._advance(room, user, state, done)
        finally:
            del self._pending[key]

    async def _advance(self, room: RoomRecord, user: User, state: str, mid: int) -> None:
        change = await self.ctx.storage.advance_position(room.id, user.id, state, mid)  # type: ignore[arg-type]
        if change is None:
            raise not_member(room)
        if change.new_delivered > change.old_delivered:
            self._wake_waiters(room.id, user.id, change.new_delivered)
            await self._status(
                room.id, user, "delivered", change.old_delivered, change.new_delivered
            )
        if change.new_read > change.old_read:
            await self._status(room.id, user, "read", change.old_read, change.new_read)

    async def _status(
        self, room_id: str, reader: User, state: PositionState, old: int, new: int
    ) -> None:
        ctx = self.ctx
        spans = await ctx.storage.senders_in_span(room_id, old, new, reader.id)
        if not spans:
            return
        positions = await ctx.storage.members(room_id)
        for span in spans:
            if not ctx.connections.is_online(span.sender_id):
                continue
            others = [p for p in positions if p.user_id != span.sender_id]
            reached = sum(
                1 for p in others if (p.read if state == "read" else p.delivered) >= span.up_to
            )
            await ctx.sio.emit(
                Event.MESSAGE_STATUS,
                {
                    "room": room_id,
                    "up_to": span.up_to,
                    "state": state,
                    "by": reader.name,
                    "count": reached,
                    "of": len(others),
                },
                to=user_channel(span.sender_id),
            )

    def _wake_waiters(self, room_id: str, user_id: int, delivered: int) -> None:
        for waiter in self._waiters.get(room_id, ()):
            if user_id in waiter.pending and delivered >= waiter.message_id:
                waiter.pending.discard(user_id)
                if not waiter.pending:
                    waiter.done.set()

    async def wait_delivered(self, record: MessageRecord, sender: User, wait_s: float) -> int:
        """Wait up to ``wait_s`` for the online members to confirm delivery; how many did."""
        ctx = self.ctx
        positions = await ctx.storage.members(record.room)
        online = {
            p.user_id
            for p in positions
            if p.user_id != sender.id and ctx.connections.is_online(p.user_id)
        }
        delivered = {
            p.user_id for p in positions if p.user_id != sender.id and p.delivered >= record.id
        }
        waiter = _DeliveryWaiter(record.id, online - delivered)
        if waiter.pending and wait_s > 0:
            self._waiters.setdefault(record.room, []).append(waiter)
            try:
                if ctx.link.clustered:
                    # receipts handled by other nodes wake nobody here: look at storage too
                    await self._poll_delivered(record, waiter, wait_s)
                else:
                    await asyncio.wait_for(waiter.done.wait(), wait_s)
            except TimeoutError:
                pass
            finally:
                waiters = self._waiters.get(record.room, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters:
                    self._waiters.pop(record.room, None)
        return await ctx.storage.count_reached(record.room, "delivered", record.id, sender.id)

    async def _poll_delivered(
        self, record: MessageRecord, waiter: _DeliveryWaiter, wait_s: float
    ) -> None:
        async with asyncio.timeout(wait_s):
            while not waiter.done.is_set():
                try:
                    await asyncio.wait_for(waiter.done.wait(), _CLUSTER_POLL_S)
                    return
                except TimeoutError:
                    pass
                positions = await self.ctx.storage.members(record.room)
                reached = {p.user_id for p in positions if p.delivered >= record.id}
                waiter.pending -= reached
                if not waiter.pending:
                    return
