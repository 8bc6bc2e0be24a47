"""The single source of the wire protocol's names, codes and default limits.

Both the server and the desktop client import from here, so an event name or an error
code is spelled exactly once. The normative text is ``shared/PROTOCOL.md``; our own
additions are documented in ``docs/protocol.md``. This module must stay dependency-free.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

PROTOCOL_VERSION: Final = 2

# Every optional part of version 2, in the order ``session.server.features`` lists them.
# A server lists only what it implements (see ``server.handlers.context.Features``).
FEATURES: Final = ("changes", "reply", "edit", "delete", "reactions", "mentions", "search", "files")


class Event(StrEnum):
    """Socket.IO event names, exactly as on the wire."""

    # client -> server (acked)
    SESSION_LOGOUT = "session:logout"
    SESSION_PASSWORD = "session:password"  # our addition (docs/protocol.md)
    ROOMS_LIST = "rooms:list"
    ROOM_CREATE = "room:create"
    ROOM_JOIN = "room:join"
    ROOM_LEAVE = "room:leave"
    ROOM_MEMBERS = "room:members"
    ROOM_INVITE = "room:invite"
    ROOM_TOPIC = "room:topic"
    ROOM_CLOSE = "room:close"
    DM_OPEN = "dm:open"
    MESSAGE_SEND = "message:send"
    MESSAGE_HISTORY = "message:history"
    MESSAGE_RECEIPT = "message:receipt"
    MEDIA_GET = "media:get"
    MESSAGE_EDIT = "message:edit"
    MESSAGE_DELETE = "message:delete"
    REACTION_SET = "reaction:set"
    MESSAGE_CHANGES = "message:changes"
    MESSAGE_SEARCH = "message:search"
    # both directions; never needs an ack
    TYPING = "typing"
    # server -> client
    SESSION = "session"
    MESSAGE = "message"
    MESSAGE_STATUS = "message:status"
    MESSAGE_UPDATED = "message:updated"
    PRESENCE = "presence"
    ROOM_ADDED = "room:added"
    ROOM_UPDATED = "room:updated"
    ROOM_CLOSED = "room:closed"
    NOTICE = "notice"


class ErrorCode(StrEnum):
    """Error codes carried in error acks and HTTP error bodies."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA = "unsupported_media"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"


HTTP_STATUS: Final[dict[ErrorCode, int]] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}


class DeliveryState(StrEnum):
    """Receipt states on the wire (``message:receipt`` and ``message:status``)."""

    DELIVERED = "delivered"
    READ = "read"


# Default limits, advertised in ``session.server.limits``; the operator may change them.
MAX_TEXT_CHARS: Final = 4000
MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024
HISTORY_LIMIT: Final = 100
DEFAULT_HISTORY_PAGE: Final = 50
MAX_IMAGE_PIXELS: Final = 40_000_000
THUMB_MAX_SIDE: Final = 320
MAX_TOPIC_CHARS: Final = 200
MAX_CLIENT_ID_CHARS: Final = 64
MAX_FILE_BYTES: Final = 100 * 1024 * 1024
UPLOAD_TTL_S: Final = 24 * 3600.0
DEFAULT_CHANGES_PAGE: Final = 100
REPLY_PREVIEW_CHARS: Final = 200
# Reactions (v2, section 13): an emoji is 1..16 code points and at most 64 bytes of UTF-8
MAX_EMOJI_CODE_POINTS: Final = 16
MAX_EMOJI_BYTES: Final = 64
MAX_REACTION_EMOJI: Final = 20
# Mentions (v2, section 14): "@room" mentions every member of the room
ROOM_MENTION: Final = "@room"
# Grace above max_image_bytes within which an oversize image still gets a too_large ack.
IMAGE_GRACE_BYTES: Final = 1024 * 1024

TYPING_REFRESH_S: Final = 3.0
TYPING_EXPIRY_S: Final = 6.0

# Abuse limits (defaults).
RATE_LIMIT_MESSAGES: Final = 20
RATE_LIMIT_WINDOW_S: Final = 10.0
MAX_CONNECTIONS_PER_USER: Final = 10
MAX_FAILED_LOGINS_PER_MINUTE: Final = 10

TOKEN_TTL_DAYS: Final = 30
GENERAL_ROOM: Final = "general"

USERNAME_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
ROOM_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9_\-]{0,39}")
PASSWORD_MIN: Final = 8
PASSWORD_MAX: Final = 256

IMAGE_MIME_TYPES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp")


def is_valid_username(name: object) -> bool:
    return isinstance(name, str) and USERNAME_RE.fullmatch(name) is not None


def is_valid_room_id(room: object) -> bool:
    """True for a public/private room id; DM ids are checked by :func:`parse_dm_id`."""
    return isinstance(room, str) and ROOM_ID_RE.fullmatch(room) is not None


def dm_room_id(user_a: str, user_b: str) -> str:
    """``dm:`` + both usernames lowercased, sorted and joined by ``:``."""
    a, b = sorted((user_a.lower(), user_b.lower()))
    return f"dm:{a}:{b}"


def parse_dm_id(room: object) -> tuple[str, str] | None:
    """The two lowercased usernames of a well-formed DM id, else None."""
    if not isinstance(room, str) or not room.startswith("dm:"):
        return None
    parts = room.split(":")
    if len(parts) != 3:
        return None
    a, b = parts[1], parts[2]
    if not (is_valid_username(a) and is_valid_username(b)):
        return None
    if a != a.lower() or b != b.lower() or a >= b:
        return None
    return a, b


def slug_room_name(text: str) -> str:
    """What a client sends for a room a person typed as ``text`` ("Team Talk!" -> "team-talk")."""
    slug = re.sub(r"[^a-z0-9_\-]+", "-", text.strip().lower()).strip("-_")
    return slug[:40].rstrip("-_")
