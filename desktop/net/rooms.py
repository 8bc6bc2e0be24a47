"""The rooms concern of ChatClient: the room list, catching up, history, and the room
requests (join, leave, create, invite, topic, close, DMs, browse).

Catching up after a (re)connect pages through every joined room's missed changes from
the anchors taken before connecting, so nothing between them is skipped or doubled: with
a protocol 2 server through ``message:changes`` from the highest ``seq`` held (so edits,
deletes and reactions made meanwhile show up too, see ``conversation``), with a protocol 1
server through ``message:history`` after the newest id held.
"""

from __future__ import annotations

import logging
from typing import Any

from desktop.net.connection import Handler
from desktop.net.core import ClientCore, RequestError
from desktop.state.types import Member, Message, Room
from server.protocol import DEFAULT_HISTORY_PAGE, HISTORY_LIMIT, DeliveryState, Event

logger = logging.getLogger(__name__)


class RoomsMixin(ClientCore):
    """Rooms, history and catch-up (see the module doc)."""

    def _init_rooms(self) -> None:
        self._older_more: dict[str, bool] = {}
        self._seq_anchors: dict[str, int] = {}

    def _forget_state(self) -> None:
        super()._forget_state()
        self._older_more.clear()

    # ------------------------------------------------------------------ catch-up
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
                self._take_history(room.id, page.get("messages", []),
                                   older_more=bool(page.get("has_more")))
            elif self._speaks_v2() and self._seq_anchors.get(room.id, 0) > 0:
                # (messages held without a seq came from a version 1 server: page by id)
                await self._catch_up_changes(room.id, self._seq_anchors.get(room.id, 0))
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

    def _take_history(self, room: str, raw: list[dict[str, Any]],
                      older_more: bool | None = None) -> list[Message]:
        """Store a page of history. ``older_more`` given: it is the room's newest page
        (its ``has_more``), which may land above a stretch loaded around an older message
        (MessageStore.add_range then records the gap between them)."""
        msgs = [Message.from_wire(m) for m in raw]
        if older_more is None:
            self.messages.add_many(room, msgs)
        else:
            oldest = self.messages.oldest_id(room)
            if oldest is None or any(m.id is not None and m.id <= oldest for m in msgs):
                self._older_more[room] = older_more  # it is the oldest stretch held
            self.messages.add_range(room, msgs, older_more=older_more, newer_more=False)
        if msgs:
            self.rooms.set_last_message(room, msgs[-1])
        return msgs

    async def _refresh_members(self, room: str) -> None:
        try:
            ack = await self._call(Event.ROOM_MEMBERS, {"room": room})
        except RequestError as exc:
            logger.info("could not list members of a room: %s", exc.code)
            return
        self.members.set_members(room, [Member.from_wire(m) for m in ack.get("members", [])])
        self._members_loaded.add(room)

    async def _load_newest(self, room: str) -> int:
        ack = await self._call(Event.MESSAGE_HISTORY,
                               {"room": room, "limit": DEFAULT_HISTORY_PAGE})
        before = self.messages.count(room)
        msgs = self._take_history(room, ack.get("messages", []),
                                  older_more=bool(ack.get("has_more")))
        if msgs and msgs[-1].id is not None:
            self._schedule_receipt(room, DeliveryState.DELIVERED, msgs[-1].id)
            self._send_read_if_visible()
        return self.messages.count(room) - before

    # ------------------------------------------------------------------ server events
    def _event_handlers(self) -> dict[str, Handler]:
        return {
            **super()._event_handlers(),
            str(Event.ROOM_ADDED): self._on_room_added_event,
            str(Event.ROOM_UPDATED): self._on_room_updated_event,
            str(Event.ROOM_CLOSED): self._on_room_closed_event,
        }

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
        self._forget_typing(room_id)
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

    async def load_around(self, room: str, message_id: int) -> bool:
        """Load the history around a message that is not held (a search result, a reply's
        parent far back): a page up to it and a page after it, in two requests however
        far back it lies, leaving a gap to the rest (MessageStore.add_range). False when
        the room has no such message (it was never there, or is gone)."""
        if self.messages.get(room, message_id) is not None:
            return True
        oldest = self.messages.oldest_id(room)
        if (oldest is not None and oldest < message_id
                and not self.messages.in_gap(room, message_id)):
            return False  # inside the held history without a hole: it is not there
        page = DEFAULT_HISTORY_PAGE
        older = await self._call(Event.MESSAGE_HISTORY,
                                 {"room": room, "before": message_id + 1, "limit": page})
        newer = await self._call(Event.MESSAGE_HISTORY,
                                 {"room": room, "after": message_id, "limit": page})
        msgs = [Message.from_wire(m) for m in older.get("messages", [])]
        msgs += [Message.from_wire(m) for m in newer.get("messages", [])]
        older_more = bool(older.get("has_more"))
        if oldest is None or all(m.id is not None and m.id < oldest for m in msgs):
            # the new stretch is the oldest held: load_older goes on from it
            self._older_more[room] = older_more
        self.messages.add_range(room, msgs, older_more=older_more,
                                newer_more=bool(newer.get("has_more")))
        return self.messages.get(room, message_id) is not None

    async def fill_gap(self, room: str, edge_id: int, above: bool) -> int:
        """Load a page into the gap next to the held message ``edge_id``: the gap above
        it (older messages) or below it; how many rows came."""
        if above:
            payload = {"room": room, "before": edge_id, "limit": DEFAULT_HISTORY_PAGE}
        else:
            payload = {"room": room, "after": edge_id, "limit": DEFAULT_HISTORY_PAGE}
        ack = await self._call(Event.MESSAGE_HISTORY, payload)
        msgs = [Message.from_wire(m) for m in ack.get("messages", [])]
        more = bool(ack.get("has_more"))
        if above:
            return self.messages.add_range(room, msgs, older_more=more, before=edge_id)
        return self.messages.add_range(room, msgs, newer_more=more, after=edge_id)

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
