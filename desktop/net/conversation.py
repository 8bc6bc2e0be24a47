"""The conversation concern of ChatClient (protocol v2, sections 10-13): catching up
through ``message:changes``, ``message:updated``, and edits, deletes and reactions.

Every change the user makes goes through the on-disk Outbox like a send, in order after
the sends before it, so a change made offline is kept across a restart and sent after the
reconnect. An edit of an own message the server has not acked yet folds into that send
while it is still queued, or else waits (by its ``client_id``) for the ack that gives it
an id. An edit shows at once (``Message.pending_edit``) and is undone when the server
refuses it; deletes and reactions show when the server has them.

A room's change counter (``seq``) is dense: a ``message`` or ``message:updated`` whose
seq is more than one above the highest held means changes were missed, and the room
catches up from the held seq. One catch-up per room runs at a time; asking again while
one runs makes it go round once more from the lowest seq asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from desktop.net.connection import Handler
from desktop.net.core import SEND_TIMEOUT_S, ClientCore, RequestError
from desktop.net.outbox import OutboxEntry, is_retryable
from desktop.state.types import Message, ReplyPreview
from server.protocol import HISTORY_LIMIT, ErrorCode

logger = logging.getLogger(__name__)

# The protocol v2 events (shared/PROTOCOL.md sections 10-13), by name: this client also
# runs against (and is built with) protocol 1 servers.
MESSAGE_CHANGES = "message:changes"
MESSAGE_UPDATED = "message:updated"
MESSAGE_EDIT = "message:edit"
MESSAGE_DELETE = "message:delete"
REACTION_SET = "reaction:set"

QUOTE_CHARS = 200
MAX_CHANGE_ATTEMPTS = 8

# What a refusal of a change means, as a sentence.
_REFUSALS: dict[str, str] = {
    ErrorCode.FORBIDDEN: "You are not allowed to do that to this message.",
    ErrorCode.NOT_FOUND: "That message no longer exists.",
    ErrorCode.CONFLICT: "That message was deleted.",
}


class ConversationMixin(ClientCore):
    """Catch-up by seq, message:updated, edit/delete/react (see the module doc)."""

    # set by the sending concern
    _flush_wake: asyncio.Event
    _in_flight: str | None

    def _init_conversation(self) -> None:
        self._catching_up: dict[str, asyncio.Task[None]] = {}
        self._catch_up_again: dict[str, int] = {}
        self.messages.on_media_dropped = self._forget_media

    # ------------------------------------------------------------------ public
    def can_edit(self, msg: Message) -> bool:
        return (self._is_own(msg) and msg.kind != "system" and not msg.deleted
                and (msg.id is not None or msg.client_id is not None))

    def can_delete(self, msg: Message) -> bool:
        """Own messages always; others' in a (non-DM) room this user owns."""
        if msg.kind == "system" or msg.deleted or msg.id is None:
            return False
        if self._is_own(msg):
            return True
        room = self.rooms.get(msg.room)
        return (room is not None and room.kind != "dm" and room.owner is not None
                and self._is_own_name(room.owner))

    def edit_message(self, msg: Message, text: str) -> None:
        """Change the text of an own message (queued like a send; shown at once)."""
        if not self.can_edit(msg):
            return
        if msg.id is None:
            entry = self.outbox.get(msg.client_id or "")
            if entry is not None and entry.client_id != self._in_flight:
                # not sent yet: the send carries the new text
                entry.text = text
                self.outbox.save()
                msg.text = text
                self.messages.refresh(msg, {"text"})
                self._flush_wake.set()
                return
            if entry is None:
                return
            self._queue_change("edit", msg.room, None, text=text, target_cid=entry.client_id)
            msg.pending_edit = text  # shown now, and kept by the acked copy until the edit
            self.messages.refresh(msg, {"text"})
            return
        if text == msg.text and msg.pending_edit is None:
            return
        self._queue_change("edit", msg.room, msg.id, text=text)
        self.messages.set_pending_edit(msg.room, msg.id, text)

    def delete_message(self, msg: Message) -> None:
        """Delete a message for everyone (an unsent own one is just discarded)."""
        if msg.id is None:
            if msg.client_id:  # as sending's ``discard``
                self.outbox.remove(msg.client_id)
                self.messages.remove_pending(msg.client_id)
            return
        if not self.can_delete(msg):
            self.errorOccurred.emit(_REFUSALS[ErrorCode.FORBIDDEN])
            return
        self._queue_change("delete", msg.room, msg.id)

    def set_reaction(self, room: str, message_id: int, emoji: str, on: bool) -> None:
        """Add (``on``) or take back one's reaction; shown when the server has it."""
        self._queue_change("react", room, message_id, emoji=emoji, on=on)

    # ------------------------------------------------------------------ outbox
    def _queue_change(self, op: str, room: str, target_id: int | None, text: str = "",
                      target_cid: str | None = None, emoji: str | None = None,
                      on: bool = True) -> None:
        username = self.username or self._auth.get("username") or ""
        entry = OutboxEntry(client_id=f"{op}-{uuid.uuid4()}", room=room, username=username,
                            ts=int(time.time() * 1000), text=text, op=op,
                            target_id=target_id, target_client_id=target_cid,
                            emoji=emoji, on=on)
        self.outbox.add(entry)
        self._flush_wake.set()

    def _restore_change(self, entry: OutboxEntry) -> None:
        if entry.op == "edit" and entry.target_id is not None:
            self.messages.set_pending_edit(entry.room, entry.target_id, entry.text)

    def _target_of(self, entry: OutboxEntry) -> int | None:
        if entry.target_id is not None:
            return entry.target_id
        if entry.target_client_id:
            msg = self.messages.find_client_id(entry.target_client_id)
            if msg is not None and msg.id is not None:
                entry.target_id = msg.id
                return msg.id
        return None

    async def _send_change(self, entry: OutboxEntry) -> None:
        target = self._target_of(entry)
        if target is None:
            if entry.target_client_id and self.outbox.get(entry.target_client_id):
                return  # its message is not acked yet: comes round again after it is
            self.outbox.remove(entry.client_id)  # the message it changes is gone
            return
        payload: dict[str, Any] = {"room": entry.room, "id": target}
        if entry.op == "edit":
            event, payload["text"] = MESSAGE_EDIT, entry.text
        elif entry.op == "delete":
            event = MESSAGE_DELETE
        elif entry.op == "react":
            event = REACTION_SET
            payload["emoji"], payload["on"] = entry.emoji or "", entry.on
        else:
            logger.warning("dropping an outbox entry of unknown kind %r", entry.op)
            self.outbox.remove(entry.client_id)
            return
        backoff = 1.0
        while self._ready:
            self.outbox.note_attempt(entry.client_id)
            try:
                ack = await self._call(event, payload, timeout=SEND_TIMEOUT_S)
            except RequestError as exc:
                if exc.code == "offline":
                    return  # sent again after the reconnect (every change is idempotent)
                if is_retryable(exc.code) and entry.attempts < MAX_CHANGE_ATTEMPTS:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 15.0)
                    continue
                self._refused(entry, target, exc)
                return
            self.outbox.remove(entry.client_id)
            raw = ack.get("message")
            if isinstance(raw, dict):
                msg = Message.from_wire(raw)
                self._apply(msg.room, [msg])
            if entry.op == "edit":
                held = self.messages.get(entry.room, target)
                if held is not None and held.pending_edit is not None and not any(
                    e.op == "edit" and e.target_id == target for e in self.outbox.entries()
                ):
                    self.messages.set_pending_edit(entry.room, target, None)
            return

    def _refused(self, entry: OutboxEntry, target: int, exc: RequestError) -> None:
        self.outbox.remove(entry.client_id)
        if entry.op == "edit":
            self.messages.set_pending_edit(entry.room, target, None)
        what = {"edit": "edited", "delete": "deleted", "react": "reacted to"}.get(
            entry.op, "changed")
        reason = _REFUSALS.get(exc.code, exc.message)
        self.errorOccurred.emit(f"The message could not be {what}: {reason}")

    # ------------------------------------------------------------------ catch-up
    async def _catch_up_changes(self, room: str, since: int) -> None:
        limit = min(int(self._limits.get("history_limit") or HISTORY_LIMIT), HISTORY_LIMIT)
        while True:
            page = await self._call(MESSAGE_CHANGES,
                                    {"room": room, "since": since, "limit": limit})
            msgs = [Message.from_wire(m) for m in page.get("messages", [])]
            self._take_changes(room, msgs)
            if not page.get("has_more") or not msgs:
                self.messages.note_seq(room, int(page.get("seq") or 0))
                return
            since = msgs[-1].seq

    def _take_changes(self, room: str, msgs: list[Message]) -> None:
        before = self.messages.newest_id(room)
        self._apply(room, msgs)
        newest: Message | None = None
        for msg in msgs:
            if before is None or (msg.id is not None and msg.id > before):
                newest = msg if newest is None or (msg.id or 0) > (newest.id or 0) else newest
        if newest is not None:
            self.rooms.set_last_message(room, newest)

    def _apply(self, room: str, msgs: list[Message]) -> None:
        """Upsert changed messages, and keep the room list's preview current."""
        self.messages.apply_changes(room, msgs)
        room_state = self.rooms.get(room)
        last = room_state.last_message if room_state is not None else None
        if last is not None and last.id is not None:
            for msg in msgs:
                if msg.id == last.id:
                    self.rooms.refresh_last_message(
                        room, self.messages.get(room, msg.id) or msg)

    def _check_seq(self, room: str, seq: int) -> None:
        """A seq more than one above the highest held: catch the room up."""
        held = self.messages.held_seq(room)
        if not self._ready or held <= 0 or seq <= held + 1 or not self._speaks_v2():
            return
        logger.info("room change seq jumped; catching up")
        running = self._catching_up.get(room)
        if running is not None and not running.done():
            self._catch_up_again[room] = min(self._catch_up_again.get(room, held), held)
            return
        self._catching_up[room] = self._spawn(self._catch_up_room(room, held))

    async def _catch_up_room(self, room: str, since: int) -> None:
        try:
            while True:
                await self._catch_up_changes(room, since)
                again = self._catch_up_again.pop(room, None)
                if again is None:
                    return
                since = again
        finally:
            self._catching_up.pop(room, None)

    # ------------------------------------------------------------------ events
    def _event_handlers(self) -> dict[str, Handler]:
        return {**super()._event_handlers(),
                MESSAGE_UPDATED: self._on_message_updated_event}

    async def _on_message_event(self, data: dict[str, Any]) -> None:
        try:
            self._check_seq(str(data["room"]), int(data.get("seq") or 0))
        except (KeyError, TypeError, ValueError):
            pass
        await super()._on_message_event(data)  # type: ignore[misc]  # sending's handler

    async def _on_message_updated_event(self, data: dict[str, Any]) -> None:
        raw = data.get("message")
        if not isinstance(raw, dict):
            return
        msg = Message.from_wire(raw)
        self._check_seq(msg.room, msg.seq)
        self._apply(msg.room, [msg])

    # ------------------------------------------------------------------ helpers
    def _quote_of(self, room: str, parent_id: int | None) -> ReplyPreview | None:
        if parent_id is None:
            return None
        parent = self.messages.get(room, parent_id)
        if parent is None:
            return ReplyPreview(id=parent_id)
        return ReplyPreview(id=parent_id, sender=parent.sender, kind=parent.kind,
                            text=parent.text[:QUOTE_CHARS], deleted=parent.deleted)

    def _forget_media(self, media_ids: list[str]) -> None:
        """A deleted message's image or file bytes leave the caches: the client's memory
        cache here, and every view's through ``mediaDropped``."""
        for media_id in media_ids:
            item = self._media_cache.pop(media_id, None)
            if item is not None:
                self._media_cache_bytes -= len(item[2])
            self.mediaDropped.emit(media_id)
