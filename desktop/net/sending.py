"""The messages concern of ChatClient: sending through the on-disk Outbox, the local
echoes, and new messages coming in.

Every send is shown at once as a pending echo and queued on disk; while connected the
outbox is flushed one message at a time, in order, reusing each entry's ``client_id`` so
the server (idempotent on it) stores every message once. A refusal that waiting cannot
fix (too large, unsupported, forbidden, ...) marks the message failed for good: the user
can delete it, and Retry is offered only where retrying can help (``can_retry``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from desktop.net.connection import Handler
from desktop.net.core import SEND_TIMEOUT_S, ClientCore, RequestError
from desktop.net.media import sniff_mime
from desktop.net.outbox import OutboxEntry, is_retryable
from desktop.net.tasks import cancel_and_wait
from desktop.state.types import DeliveryStatus, ImageInfo, Message
from server.protocol import DeliveryState, Event

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
# Connections lost while one message was in flight before it counts as the cause.
MAX_DROPS_PER_SEND = 5
# A failure with this code came from giving up after MAX_SEND_ATTEMPTS transient errors
# (or a missing image file, which a retry cannot bring back: see ``_fail``).
GAVE_UP = "gave_up"
DROPPED = "connection_dropped"


def entry_retryable(entry: OutboxEntry) -> bool:
    """Whether sending a failed entry again can work: after giving up on transient errors
    yes, after a refusal of the message itself (too large, forbidden, ...) no."""
    return entry.error_code in (None, GAVE_UP, DROPPED) or is_retryable(entry.error_code)


class SendingMixin(ClientCore):
    """Outbox, echoes, retry/delete, and incoming messages (see the module doc)."""

    def _init_sending(self) -> None:
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_wake = asyncio.Event()
        self._in_flight: str | None = None  # the client_id being sent right now
        self.max_send_attempts = MAX_SEND_ATTEMPTS

    # ------------------------------------------------------------------ public
    def send_text(self, room: str, text: str, reply_to: int | None = None) -> str:
        """Show a pending echo now, queue it on disk, send when connected (``reply_to``:
        the id of the message it answers, protocol v2)."""
        return self._queue(room, text=text, reply_to=reply_to)

    def send_image(self, room: str, data: bytes, name: str, caption: str = "") -> str:
        return self._queue(room, text=caption, image=bytes(data), image_name=name)

    def can_retry(self, client_id: str) -> bool:
        """Whether Retry can help this failed message: False after a refusal that
        sending it again cannot change (too large, unsupported, forbidden, ...)."""
        entry = self.outbox.get(client_id)
        if entry is None or not entry.failed:
            return False
        return entry_retryable(entry)

    def retry(self, client_id: str) -> None:
        """Send a failed message again (ignored where ``can_retry`` says it cannot help)."""
        if not self.can_retry(client_id):
            return
        if self.outbox.mark_retry(client_id) is None:
            return
        self.messages.mark_pending(client_id)
        self._flush_wake.set()

    def discard(self, client_id: str) -> None:
        """Delete a failed (or still pending) message for good: from the outbox on disk
        and from the timeline."""
        self.outbox.remove(client_id)
        self.messages.remove_pending(client_id)

    # ------------------------------------------------------------------ queueing
    def _queue(self, room: str, text: str = "", image: bytes | None = None,
               image_name: str | None = None, reply_to: int | None = None) -> str:
        username = self.username or self._auth.get("username") or ""
        client_id = str(uuid.uuid4())
        entry = OutboxEntry(client_id=client_id, room=room, username=username,
                            ts=int(time.time() * 1000), text=text, image_name=image_name,
                            reply_to=reply_to)
        self.outbox.add(entry, image)
        self.messages.add_pending(self._echo_for(entry, image))
        self._flush_wake.set()
        return client_id

    def _echo_for(self, entry: OutboxEntry, image: bytes | None) -> Message:
        info = None
        if image is not None:
            info = ImageInfo(id="", mime=sniff_mime(image), name=entry.image_name or "",
                             size=len(image), width=0, height=0, thumb=None)
        return Message(
            id=None, room=entry.room, sender=entry.username, ts=entry.ts,
            kind="image" if image is not None else "text", text=entry.text,
            client_id=entry.client_id, image=info,
            status=DeliveryStatus.FAILED if entry.failed else DeliveryStatus.PENDING,
            local_image=image, error=entry.error,
            retryable=not entry.failed or self.can_retry(entry.client_id),
            reply_to=self._quote_of(entry.room, entry.reply_to),
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
            if entry.op != "send":
                self._restore_change(entry)
            elif self.messages.find_client_id(entry.client_id) is None:
                self.messages.add_pending(self._echo_for(entry, self.outbox.image_bytes(entry)))

    # ------------------------------------------------------------------ flushing
    def _start_flushing(self) -> None:
        self._flush_wake.set()
        self._flush_task = self._spawn(self._flush_outbox())

    async def _stop_flushing(self) -> None:
        flush, self._flush_task = self._flush_task, None
        if flush is not None:
            await cancel_and_wait(flush)  # one cancel() may be swallowed: desktop.net.tasks

    async def _flush_outbox(self) -> None:
        """Send queued messages one at a time, in order, while connected."""
        while self._ready:
            self._flush_wake.clear()
            for entry in self.outbox.sendable(self.username or ""):
                if not self._ready:
                    return
                if self.outbox.get(entry.client_id) is None or entry.failed:
                    continue  # discarded or failed meanwhile
                if entry.op != "send":
                    await self._send_change(entry)
                    continue
                self._in_flight = entry.client_id
                try:
                    await self._send_entry(entry)
                finally:
                    self._in_flight = None
            await self._flush_wake.wait()

    def _over_limit(self, entry: OutboxEntry, image: bytes | None) -> str | None:
        """Why the server's announced limits refuse this message, before sending it: an
        image far over the limit would not even get an answer (the server drops the
        connection), and resending it after every reconnect would never end."""
        max_text = int(self._limits.get("max_text_chars") or 0)
        if max_text and len(entry.text) > max_text:
            return f"The text is {len(entry.text)} characters; the limit is {max_text}."
        max_image = int(self._limits.get("max_image_bytes") or 0)
        if image is not None and max_image and len(image) > max_image:
            return (f"The image is {_size(len(image))}; "
                    f"this server takes images up to {_size(max_image)}.")
        return None

    async def _send_entry(self, entry: OutboxEntry) -> None:
        if entry.drops >= MAX_DROPS_PER_SEND:
            self._fail(entry, DROPPED,
                       "The connection was lost each time this message was sent.")
            return
        payload: dict[str, Any] = {"room": entry.room, "client_id": entry.client_id}
        if entry.reply_to is not None:
            payload["reply_to"] = entry.reply_to
        if entry.text:
            payload["text"] = entry.text
        if entry.upload_id is not None:  # a file, uploaded already (desktop.net.files)
            payload["file"] = {"upload": entry.upload_id}
        elif entry.image_file is not None:
            data = self.outbox.image_bytes(entry)
            if data is None:
                self._fail(entry, "missing_image", "The image file is missing")
                return
            too_big = self._over_limit(entry, data)
            if too_big is not None:
                self._fail(entry, "too_large", too_big)
                return
            image: dict[str, Any] = {"data": data}
            if entry.image_name:
                image["name"] = entry.image_name
            payload["image"] = image
        elif (too_long := self._over_limit(entry, None)) is not None:
            self._fail(entry, "too_large", too_long)
            return
        backoff = 1.0
        while self._ready:
            self.outbox.note_attempt(entry.client_id)
            try:
                ack = await self._call(Event.MESSAGE_SEND, payload, timeout=SEND_TIMEOUT_S)
            except RequestError as exc:
                if exc.code == "offline":
                    # resent after the reconnect, same client_id; counted, so a message
                    # that brings the connection down each time does not loop forever
                    self.outbox.note_drop(entry.client_id)
                    return
                if not is_retryable(exc.code):
                    self._fail(entry, exc.code, exc.message)
                    return
                if entry.attempts >= self.max_send_attempts:
                    self._fail(entry, GAVE_UP,
                               f"Not sent after {entry.attempts} tries ({exc.message})")
                    return
                logger.info("send will be retried in %.0fs: %s", backoff, exc.code)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            msg = Message.from_wire(ack["message"])  # (drops are forgotten with the entry)
            self.messages.add(msg)
            self.outbox.remove(entry.client_id)
            self.rooms.set_last_message(msg.room, msg)
            return

    def _fail(self, entry: OutboxEntry, code: str, reason: str) -> None:
        """The message stays, marked failed (with the code, so ``can_retry`` knows)."""
        self.outbox.mark_failed(entry.client_id, reason, code)
        self.messages.mark_failed(entry.client_id, reason, self.can_retry(entry.client_id))
        self.errorOccurred.emit(f"Message not sent: {reason}")

    # ------------------------------------------------------------------ incoming
    def _event_handlers(self) -> dict[str, Handler]:
        return {**super()._event_handlers(), str(Event.MESSAGE): self._on_message_event}

    async def _on_message_event(self, data: dict[str, Any]) -> None:
        msg = Message.from_wire(data)
        is_new = self.messages.add(msg)
        self.rooms.set_last_message(msg.room, msg)
        assert msg.id is not None
        self._schedule_receipt(msg.room, DeliveryState.DELIVERED, msg.id)
        self._stop_typing_of(msg.room, msg.sender)
        if not is_new or self._is_own(msg):
            return
        if self._focused and msg.room == self._active_room:
            self._send_read_if_visible()
        else:
            self.rooms.increment_unread(msg.room)
            if msg.mentions_user(self.username):
                self.rooms.increment_mentions(msg.room)
        self.messageReceived.emit(msg.room, msg)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{max(1, round(n / 1024))} KB"
