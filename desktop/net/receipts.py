"""The receipts concern of ChatClient: what the user has seen.

Delivered and read receipts are cumulative, so they are coalesced: one per room and state
per ``RECEIPT_DEBOUNCE_S`` (the highest id), flushed at once on a room switch and before
disconnecting. Incoming ``message:status`` events raise the ticks on own messages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from desktop.net.connection import Handler
from desktop.net.core import ClientCore, RequestError
from desktop.state.types import DeliveryStatus
from server.protocol import DeliveryState, Event

logger = logging.getLogger(__name__)

# Receipts are cumulative, so one per room and state per this many seconds (the highest
# id) says the same as one per message, without a durable server write for each.
RECEIPT_DEBOUNCE_S = 0.25


class ReceiptsMixin(ClientCore):
    """Read state, receipts out and status in (see the module doc)."""

    def _init_receipts(self) -> None:
        self._receipts_due: dict[tuple[str, str], int] = {}
        self._receipts_sent: dict[tuple[str, str], int] = {}
        self._receipts_scheduled = False
        self.receipt_debounce_s = RECEIPT_DEBOUNCE_S
        # With a timeline attached, `read` only goes up to what it reports as seen.
        self.reads_follow_view = False
        self._seen_up_to: dict[str, int] = {}

    def _forget_state(self) -> None:
        super()._forget_state()
        self._receipts_due.clear()
        self._receipts_sent.clear()  # ids of another server say nothing about this one

    # ------------------------------------------------------------------ public
    def set_active_room(self, room: str | None) -> None:
        if room != self._active_room and self._receipts_due and self._ready:
            self._spawn(self._flush_receipts())  # leaving a room: do not sit on its receipts
        self._active_room = room
        if room is not None and room not in self._members_loaded and self._ready:
            self._spawn(self._refresh_members(room))
        self._send_read_if_visible()

    def set_window_focused(self, focused: bool) -> None:
        """The window gained or lost focus: reads, and a chance to reconnect at once."""
        regained = focused and not self._focused
        self._focused = focused
        if regained:
            self._on_window_focus_regained()
        self._send_read_if_visible()

    def mark_read(self, room: str) -> None:
        """The user is looking at ``room``: its badge clears, and ``read`` goes up to its
        newest message, or with ``reads_follow_view`` only up to what the view saw."""
        self.rooms.set_unread(room, 0)
        self.rooms.set_mentions(room, 0)
        newest = self.messages.newest_id(room)
        if self.reads_follow_view and newest is not None:
            newest = min(newest, self._seen_up_to.get(room, 0)) or None
        if newest is not None:
            self._schedule_receipt(room, DeliveryState.READ, newest)

    def mark_seen(self, room: str, message_id: int) -> None:
        """The timeline showed ``room`` up to ``message_id`` in a focused window."""
        if message_id <= self._seen_up_to.get(room, 0):
            return
        self._seen_up_to[room] = message_id
        if self._room_visible(room):
            self._schedule_receipt(room, DeliveryState.READ, message_id)

    # ------------------------------------------------------------------ internals
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

    def _resume_receipts(self) -> None:
        if self._receipts_due and not self._receipts_scheduled:
            self._receipts_scheduled = True
            self._spawn(self._send_receipts())

    async def _flush_receipts_before_leaving(self) -> None:
        if self._ready and self._receipts_due:
            try:  # what was seen so far, before the debounce would have sent it
                await asyncio.wait_for(self._flush_receipts(), 2.0)
            except (TimeoutError, RequestError):
                logger.info("receipts not flushed before disconnecting")

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

    # ------------------------------------------------------------------ server events
    def _event_handlers(self) -> dict[str, Handler]:
        return {**super()._event_handlers(), str(Event.MESSAGE_STATUS): self._on_status_event}

    async def _on_status_event(self, data: dict[str, Any]) -> None:
        state = (DeliveryStatus.READ if data.get("state") == DeliveryState.READ
                 else DeliveryStatus.DELIVERED)
        self.messages.apply_status(str(data["room"]), int(data["up_to"]), state,
                                   int(data.get("count") or 0), int(data.get("of") or 0))
