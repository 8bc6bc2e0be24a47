"""Messages: ``message:send`` (text, image or file), ``message:history`` and ``media:get``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from server import media
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, now_ms
from server.handlers.media import FileHandler
from server.handlers.relations import check_reply_parent, mentions_in, reply_id
from server.protocol import DEFAULT_HISTORY_PAGE, ErrorCode, Event
from server.ratelimit import SlidingWindow
from server.storage.base import MessageKind, MessageRecord, NewImage, NewMessage, User
from server.storage.base_v2 import UploadUnavailable
from server.validation import client_id as check_client_id
from server.validation import (
    display_filename,
    encodable,
    history_limit,
    optional_message_id,
    optional_str,
    require_room_id,
)
from server.wire import message_to_wire, messages_to_wire

logger = logging.getLogger(__name__)


class MessageHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        config = ctx.config
        self.message_limiter = SlidingWindow(config.rate_limit_messages, config.rate_limit_window_s)
        self.images = media.ImageProcessor(
            workers=config.image_decode_workers,
            queue=config.image_decode_queue,
            pixels_per_minute=config.image_pixels_per_user_per_minute,
            max_thumb_bytes=config.max_thumb_bytes,
        )
        self.files = FileHandler(ctx, self.images)

    async def send_message(
        self,
        user: User,
        payload: dict[str, Any],
        sid: str | None,
        *,
        require_client_id: bool = True,
    ) -> tuple[MessageRecord, dict[str, Any], bool]:
        """Store and broadcast a message; returns (record, wire for the sender, created)."""
        ctx = self.ctx
        config = ctx.config
        room_id = require_room_id(payload.get("room"))
        raw_client_id = payload.get("client_id")
        if raw_client_id is None and not require_client_id:
            raw_client_id = str(uuid.uuid4())
        cid = check_client_id(raw_client_id)
        text = optional_str(payload, "text")
        parent_id = reply_id(payload)
        image = payload.get("image")
        file = payload.get("file")
        data: bytes | None = None
        image_name = "image"
        if image is not None and file is not None:
            raise bad_request("A message carries an image or a file, not both.")
        if file is not None:
            pass  # checked with the upload below; the text is an optional caption
        elif image is not None:
            if not isinstance(image, dict) or not isinstance(image.get("data"), (bytes, bytearray)):
                raise bad_request("image must be an object with binary data.")
            data = bytes(image["data"])
            name = image.get("name")
            if name is not None:
                if not isinstance(name, str):
                    raise bad_request("image.name must be a string.")
                image_name = display_filename(encodable(name, "image.name"), "image")
        elif text is None:
            raise bad_request("A message needs text or an image.")
        elif not text.strip():
            raise bad_request("A text message cannot be empty.")
        if text is not None and len(text) > config.max_text_chars:
            raise ProtocolError(
                ErrorCode.TOO_LARGE, f"Text is limited to {config.max_text_chars} characters."
            )

        existing, room, member = await ctx.storage.send_context(room_id, user.id, cid)
        if existing is not None:
            positions = await ctx.storage.members(existing.room)
            return existing, message_to_wire(existing, positions), False
        if room is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {room_id}.")
        if not member:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room_id}.")
        if not await self.message_limiter.acquire(str(user.id)):
            # a retry of a stored message is answered, never refused
            stored = await ctx.storage.message_by_client_id(user.id, cid)
            if stored is not None:
                positions = await ctx.storage.members(stored.room)
                return stored, message_to_wire(stored, positions), False
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"At most {config.rate_limit_messages} messages in "
                f"{config.rate_limit_window_s:g} seconds.",
            )
        if parent_id is not None:
            resent = await check_reply_parent(ctx, room.id, parent_id, user.id, cid)
            if resent is not None:  # a resend whose parent was deleted since: answer it
                positions = await ctx.storage.members(resent.room)
                return resent, message_to_wire(resent, positions), False
        new_image = None
        prepared = None
        if file is not None:
            prepared = await self.files.prepare(user, file)
            if prepared is None:
                # a resend of a stored file message finds its upload used: answer the message
                stored = await ctx.storage.message_by_client_id(user.id, cid)
                if stored is not None:
                    return (
                        stored,
                        message_to_wire(stored, await ctx.storage.members(stored.room)),
                        False,
                    )
                raise ProtocolError(
                    ErrorCode.NOT_FOUND, "There is no such upload of yours to send."
                )
            new_image = prepared.image
        if data is not None:
            processed = await self.images.process(data, config.max_image_bytes, str(user.id))
            new_image = NewImage(
                id=uuid.uuid4().hex,
                mime=processed.mime,
                name=image_name,
                data=data,
                width=processed.width,
                height=processed.height,
                thumb=processed.thumb,
                thumb_mime=processed.thumb_mime,
            )
        kind: MessageKind = "text"
        if new_image is not None:
            kind = "image"
        elif prepared is not None:
            kind = "file"
        try:
            record, created = await ctx.storage.insert_message(
                NewMessage(
                    room=room.id,
                    sender_id=user.id,
                    ts=now_ms(),
                    kind=kind,
                    text=text or "",
                    client_id=cid,
                    image=new_image,
                    reply_to=parent_id,
                    mentions=await mentions_in(ctx, room.id, text or ""),
                    upload_id=None if prepared is None else prepared.upload_id,
                )
            )
        except UploadUnavailable:
            # another send used the upload first (or it expired) between check and commit
            raise ProtocolError(
                ErrorCode.NOT_FOUND, "There is no such upload of yours to send."
            ) from None
        if created and prepared is not None and new_image is not None:
            await self.files.stored_as_image(prepared)
        if created:
            ctx.metrics.messages_total += 1
            if new_image is not None:
                ctx.metrics.images_total += 1
            shared = message_to_wire(record)
            await ctx.broadcast_change(record, Event.MESSAGE, shared, sid)
            # a new message is beyond every receipt position: nobody else has it yet. A
            # shallow copy of the broadcast's object (which may still wait for its turn):
            # only the copy gets receipts, and nothing nested is changed.
            wire = dict(shared)
            wire["receipts"] = {"delivered": 0, "read": 0, "of": max(room.members - 1, 0)}
            return record, wire, True
        positions = await ctx.storage.members(record.room)
        return record, message_to_wire(record, positions), False

    async def history(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.member_room(user, payload.get("room"))
        before = optional_message_id(payload, "before")
        after = optional_message_id(payload, "after")
        if before is not None and after is not None:
            raise bad_request("Give before or after, not both.")
        limit = history_limit(payload.get("limit"), ctx.config.history_limit, DEFAULT_HISTORY_PAGE)
        messages, has_more = await ctx.storage.history(room.id, before, after, limit)
        positions = await ctx.storage.members(room.id)
        return {"messages": messages_to_wire(messages, user, positions), "has_more": has_more}

    async def media(self, user: User, image_id: object) -> tuple[str, str, bytes]:
        ctx = self.ctx
        if not isinstance(image_id, str) or not 1 <= len(image_id) <= 64:
            raise bad_request("id must be an image id.")
        blob = await ctx.storage.media(image_id)
        if blob is None:
            return await self.files.small_file(user, image_id)
        if not await ctx.storage.is_member(blob.room, user.id):
            # the same answer as an unknown id: a non-member learns nothing about the image
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such image.")
        return blob.mime, blob.name, blob.data
