"""Relations between messages and changes to them: replies, mentions, edits, deletes, reactions.

``message:edit``, ``message:delete`` and ``reaction:set`` (protocol v2, sections 11-15).
Each change is checked here for what a payload can get wrong, then stored by one storage
call that re-checks the message's state in its own transaction (an edit racing a delete
cannot both win), and finally sent as ``message:updated`` to the room's other connections.
Changes share the per-user rate limit of ``message:send``. The pure rules (who a text
mentions, what an emoji may be) are module functions, also used by ``message:send``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, not_member, now_ms
from server.handlers.media import erase_deleted_files
from server.protocol import (
    MAX_EMOJI_BYTES,
    MAX_EMOJI_CODE_POINTS,
    MAX_REACTION_EMOJI,
    ROOM_MENTION,
    ErrorCode,
    Event,
)
from server.ratelimit import SlidingWindow
from server.storage.base import (
    NO_MENTIONS,
    ChangeOutcome,
    MemberPosition,
    Mentions,
    MessageRecord,
    RoomRecord,
    User,
)
from server.validation import message_id, optional_message_id, require_str
from server.wire import message_to_wire

logger = logging.getLogger(__name__)

# "@" + a run of username characters, where the "@" does not follow a username character
# (so "mail@example.org" mentions nobody)
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.\-])@([A-Za-z0-9_.\-]+)")
_MAX_NAME = 32
_ROOM_WORD = ROOM_MENTION[1:]
# Bidirectional controls can turn a name around on screen; ZWJ, variation selectors and tag
# characters (family and flag sequences) stay allowed
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def find_mentions(text: str, members: list[MemberPosition]) -> Mentions:
    """Who ``text`` mentions among ``members`` (section 14).

    A run after "@" is matched ignoring case; when the whole run names nobody, the
    punctuation that may close a sentence ("." "-" "_") is dropped from its end, so
    "thanks @bob." mentions bob. ``@room`` wins over a user called "room".
    """
    if "@" not in text:
        return NO_MENTIONS
    by_key = {m.name.lower(): m for m in members}
    names: list[str] = []
    ids: list[int] = []
    room = False
    for match in _MENTION_RE.finditer(text):
        candidate = match.group(1).lower()
        while candidate:
            if candidate == _ROOM_WORD:
                if not room:
                    room = True
                    names.append(ROOM_MENTION)
                break
            member = by_key.get(candidate) if len(candidate) <= _MAX_NAME else None
            if member is not None:
                if member.user_id not in ids:
                    ids.append(member.user_id)
                    names.append(member.name)
                break
            if candidate[-1] not in "._-":
                break
            candidate = candidate[:-1]
    if not names:
        return NO_MENTIONS
    return Mentions(tuple(names), tuple(ids), room)


async def mentions_in(ctx: HandlerContext, room_id: str, text: str) -> Mentions:
    """The mentions of ``text`` among the room's members now (no storage read without "@")."""
    if "@" not in text:
        return NO_MENTIONS
    return find_mentions(text, await ctx.storage.members(room_id))


def check_emoji(value: object) -> str:
    """An emoji as section 13 allows it: 1-16 code points, <= 64 bytes, no space or control."""
    if not isinstance(value, str):
        raise bad_request("emoji must be a string.")
    if not 1 <= len(value) <= MAX_EMOJI_CODE_POINTS:
        raise bad_request(f"emoji must be 1 to {MAX_EMOJI_CODE_POINTS} characters.")
    for ch in value:
        if ch.isspace() or ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs"):
            raise bad_request("emoji cannot contain spaces or control characters.")
    if len(value.encode("utf-8")) > MAX_EMOJI_BYTES:
        raise bad_request(f"emoji must be at most {MAX_EMOJI_BYTES} bytes of UTF-8.")
    return value


def reply_id(payload: dict[str, Any]) -> int | None:
    """The ``reply_to`` of a ``message:send`` payload, checked for its type only."""
    return optional_message_id(payload, "reply_to")


async def check_reply_parent(
    ctx: HandlerContext, room_id: str, parent_id: int, sender_id: int, client_id: str
) -> MessageRecord | None:
    """A reply's parent must be a message of the room, neither a system message nor deleted.

    Returns None when it is. When it is not, but the reply itself is already stored under
    ``client_id`` (a resend after the parent was deleted), returns that stored reply, which
    the resend answers as usual; otherwise raises ``not_found`` or ``bad_request``.
    """
    parent = await ctx.storage.get_message(room_id, parent_id)
    if parent is not None and not parent.deleted and parent.kind != "system":
        return None
    stored = await ctx.storage.message_by_client_id(sender_id, client_id)
    if stored is not None:
        return stored
    if parent is None or parent.deleted:
        raise ProtocolError(ErrorCode.NOT_FOUND, "The message you reply to does not exist.")
    raise bad_request("You cannot reply to a system message.")


class RelationHandler:
    def __init__(
        self, ctx: HandlerContext, limiter: SlidingWindow, is_operator: Callable[[User], bool]
    ) -> None:
        self.ctx = ctx
        # operators are resolved by user id at start (AccountHandler)
        self._is_operator = is_operator
        # the limiter of message:send: a change costs what a message costs
        self._limiter = limiter
        ctx.features.add("reply", "edit", "delete", "reactions", "mentions")

    async def _spend(self, user: User) -> None:
        if not await self._limiter.acquire(str(user.id)):
            config = self.ctx.config
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"At most {config.rate_limit_messages} messages and changes in "
                f"{config.rate_limit_window_s:g} seconds.",
            )

    async def _answer(self, user: User, outcome: ChangeOutcome, sid: str | None) -> dict[str, Any]:
        """Broadcast a stored change, and the ack's ``{message}`` as the changer sees it."""
        message = outcome.message
        if message is None:  # the row vanished with its room between the write and the read
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such message.")
        if outcome.status == "changed":
            await self.ctx.broadcast_change(
                message,
                Event.MESSAGE_UPDATED,
                {"room": message.room, "message": message_to_wire(message, thumb=False)},
                sid,
            )
        return {"message": await self._own_wire(user, message)}

    async def _own_wire(self, user: User, message: MessageRecord) -> dict[str, Any]:
        if message.sender_id != user.id:
            return message_to_wire(message)
        return message_to_wire(message, await self.ctx.storage.members(message.room))

    async def edit(self, user: User, payload: dict[str, Any], sid: str | None) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.member_room(user, payload.get("room"))
        mid = message_id(payload.get("id"), "id")
        text = require_str(payload, "text")
        if len(text) > ctx.config.max_text_chars:
            raise ProtocolError(
                ErrorCode.TOO_LARGE, f"Text is limited to {ctx.config.max_text_chars} characters."
            )
        target = await ctx.storage.get_message(room.id, mid)
        if target is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such message in this room.")
        # a caption may be emptied; the text of a text message may not
        if target.kind == "text" and not text.strip():
            raise bad_request("A text message cannot be empty.")
        await self._spend(user)
        mentions = await mentions_in(ctx, room.id, text)
        outcome = await ctx.storage.edit_message(room.id, mid, user.id, text, mentions, now_ms())
        if outcome.status == "not_found":
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such message in this room.")
        if outcome.status == "system":
            raise ProtocolError(ErrorCode.FORBIDDEN, "System messages cannot be edited.")
        if outcome.status == "forbidden":
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only its sender can edit a message.")
        if outcome.status == "deleted":
            raise ProtocolError(ErrorCode.CONFLICT, "This message was deleted.")
        return await self._answer(user, outcome, sid)

    def _moderates(self, user: User, room: RoomRecord) -> bool:
        """Operators anywhere; a room's owner in a public or private room."""
        if self._is_operator(user):
            return True
        owner = room.owner
        return room.kind != "dm" and owner is not None and owner.lower() == user.name.lower()

    async def delete(self, user: User, payload: dict[str, Any], sid: str | None) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.room(payload.get("room"))
        operator = self._is_operator(user)
        if not operator and not await ctx.storage.is_member(room.id, user.id):
            raise not_member(room)
        mid = message_id(payload.get("id"), "id")
        await self._spend(user)
        outcome = await ctx.storage.delete_message(
            room.id, mid, user.id, self._moderates(user, room)
        )
        if outcome.status == "not_found":
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such message in this room.")
        if outcome.status == "system":
            raise ProtocolError(ErrorCode.FORBIDDEN, "System messages cannot be deleted.")
        if outcome.status == "forbidden":
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "Only its sender or the room's owner can delete a message."
            )
        if outcome.status == "changed":
            logger.info("user %s deleted message %d in %s", user.name, mid, room.id)
            await erase_deleted_files(ctx.storage, ctx.config)
        return await self._answer(user, outcome, sid)

    async def react(self, user: User, payload: dict[str, Any], sid: str | None) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.member_room(user, payload.get("room"))
        mid = message_id(payload.get("id"), "id")
        emoji = check_emoji(payload.get("emoji"))
        on = payload.get("on")
        if not isinstance(on, bool):
            raise bad_request("on must be true or false.")
        await self._spend(user)
        outcome = await ctx.storage.set_reaction(
            room.id, mid, user.id, emoji, on, MAX_REACTION_EMOJI
        )
        if outcome.status == "not_found":
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such message in this room.")
        if outcome.status == "system":
            raise bad_request("System messages take no reactions.")
        if outcome.status == "deleted":
            raise ProtocolError(ErrorCode.CONFLICT, "This message was deleted.")
        if outcome.status == "too_many":
            raise bad_request(f"A message holds at most {MAX_REACTION_EMOJI} different emoji.")
        return await self._answer(user, outcome, sid)
