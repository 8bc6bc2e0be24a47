"""Dataclasses for what the client holds: rooms, messages, members, delivery status.

``from_wire`` turns a protocol payload (shared/PROTOCOL.md) into these; it is tolerant of
missing optional fields but never invents ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class DeliveryStatus(IntEnum):
    """The status ladder of an own message; higher means further along (FAILED aside)."""

    PENDING = 0
    SENT = 1
    DELIVERED = 2
    READ = 3
    FAILED = 4


@dataclass
class ImageInfo:
    id: str
    mime: str
    name: str
    size: int
    width: int
    height: int
    thumb: bytes | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ImageInfo:
        thumb = data.get("thumb")
        if isinstance(thumb, bytearray | memoryview):
            thumb = bytes(thumb)
        return cls(
            id=str(data.get("id", "")),
            mime=str(data.get("mime", "")),
            name=str(data.get("name") or ""),
            size=int(data.get("size") or 0),
            width=int(data.get("width") or 0),
            height=int(data.get("height") or 0),
            thumb=thumb if isinstance(thumb, bytes) else None,
        )


@dataclass
class FileInfo:
    """A file message's attachment (protocol v2, section 17); ``name`` is for display only
    (never a path: see ``desktop.state.filenames``)."""

    id: str
    name: str
    size: int
    mime: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> FileInfo:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or ""),
            size=int(data.get("size") or 0),
            mime=str(data.get("mime") or "application/octet-stream"),
        )


@dataclass
class Receipts:
    delivered: int = 0
    read: int = 0
    of: int = 0

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Receipts:
        return cls(
            delivered=int(data.get("delivered") or 0),
            read=int(data.get("read") or 0),
            of=int(data.get("of") or 0),
        )


@dataclass
class ReplyPreview:
    """A quoted parent (protocol v2 section 11): kept up to date from message:updated."""

    id: int
    sender: str | None = None
    kind: str = "text"
    text: str = ""
    deleted: bool = False

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ReplyPreview:
        return cls(
            id=int(data["id"]),
            sender=data.get("sender"),
            kind=str(data.get("kind") or "text"),
            text=str(data.get("text") or ""),
            deleted=bool(data.get("deleted", False)),
        )


@dataclass
class Message:
    id: int | None  # None while pending (local echo)
    room: str
    sender: str | None
    ts: int
    kind: str  # "text" | "image" | "system"
    text: str = ""
    client_id: str | None = None
    image: ImageInfo | None = None
    system: dict[str, Any] | None = None
    status: DeliveryStatus = DeliveryStatus.SENT  # only meaningful for own messages
    receipts: Receipts | None = None
    local_image: bytes | None = None  # pending image bytes, so the echo shows at once
    error: str | None = None  # why it failed, for the tooltip
    retryable: bool = True  # failed, but sending again may work (offer Retry)
    # protocol v2 (sections 10-14); a v1 server leaves them at these defaults
    seq: int = 0
    edited_ts: int | None = None
    deleted: bool = False
    reply_to: ReplyPreview | None = None
    # [(emoji, (user, ...)), ...] in first-use order, and the server-computed names this
    # message mentions (plus "@room")
    reactions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    mentions: tuple[str, ...] | None = None  # None: a v1 server, which does not say
    file: FileInfo | None = None
    pending_edit: str | None = None  # an own edit not yet acked: shown instead of text

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        """A server Message; status is derived from receipts when they are present."""
        image = data.get("image")
        receipts_raw = data.get("receipts")
        receipts = Receipts.from_wire(receipts_raw) if isinstance(receipts_raw, dict) else None
        status = DeliveryStatus.SENT
        if receipts is not None:
            if receipts.read > 0:
                status = DeliveryStatus.READ
            elif receipts.delivered > 0:
                status = DeliveryStatus.DELIVERED
        system = data.get("system")
        reply = data.get("reply_to")
        file = data.get("file")
        edited = data.get("edited_ts")
        return cls(
            id=int(data["id"]),
            room=str(data["room"]),
            sender=data.get("sender"),
            ts=int(data.get("ts") or 0),
            kind=str(data.get("kind") or "text"),
            text=str(data.get("text") or ""),
            client_id=data.get("client_id"),
            image=ImageInfo.from_wire(image) if isinstance(image, dict) else None,
            system=dict(system) if isinstance(system, dict) else None,
            status=status,
            receipts=receipts,
            seq=int(data.get("seq") or 0),
            edited_ts=int(edited) if edited else None,
            deleted=bool(data.get("deleted", False)),
            reply_to=ReplyPreview.from_wire(reply) if isinstance(reply, dict) else None,
            reactions=reactions_from_wire(data.get("reactions")),
            mentions=_mentions_from_wire(data.get("mentions")),
            file=FileInfo.from_wire(file) if isinstance(file, dict) else None,
        )

    def mentions_user(self, username: str | None) -> bool:
        """True if the server says this message mentions ``username`` (or everyone)."""
        if not username:
            return False
        name = username.lower()
        return any(m == "@room" or m.lower() == name for m in self.mentions or ())

    @property
    def is_pending_echo(self) -> bool:
        return self.id is None

    @property
    def shown_text(self) -> str:
        """The text to show: none once deleted; an own edit not yet acked wins."""
        if self.deleted:
            return ""
        return self.pending_edit if self.pending_edit is not None else self.text


def _mentions_from_wire(raw: Any) -> tuple[str, ...] | None:
    if not isinstance(raw, list):
        return None
    return tuple(m for m in raw if isinstance(m, str))


def reactions_from_wire(raw: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The wire's ``[{emoji, users}]`` as tuples; malformed entries are skipped."""
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("emoji"), str):
            users = tuple(str(u) for u in item.get("users") or () if isinstance(u, str))
            if users:
                out.append((item["emoji"], users))
    return tuple(out)


@dataclass
class Room:
    id: str
    name: str
    topic: str = ""
    kind: str = "public"  # "public" | "private" | "dm"
    owner: str | None = None
    members: int = 0
    joined: bool = False
    unread: int = 0
    last_message: Message | None = None
    mentions: int = 0  # v2: unread messages that mention me by name or @room
    # protocol v2 (section 10)
    seq: int = 0
    read_up_to: int | None = None  # None: the server did not say (v1)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Room:
        last = data.get("last_message")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            topic=str(data.get("topic") or ""),
            kind=str(data.get("kind") or "public"),
            owner=data.get("owner"),
            members=int(data.get("members") or 0),
            joined=bool(data.get("joined", False)),
            unread=int(data.get("unread") or 0),
            mentions=int(data.get("mentions") or 0),
            last_message=Message.from_wire(last) if isinstance(last, dict) else None,
            seq=int(data.get("seq") or 0),
            read_up_to=int(data["read_up_to"] or 0) if "read_up_to" in data else None,
        )


@dataclass
class Member:
    name: str
    online: bool = False

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Member:
        return cls(name=str(data["name"]), online=bool(data.get("online", False)))


@dataclass(frozen=True)
class Change:
    """A store change for listeners: kind is "inserted" | "updated" | "removed" | "reset".

    ``rows`` are the affected row indexes (ascending) at the time of the change; for
    "updated" there is one row and ``fields`` names what changed.
    """

    kind: str
    key: str  # the room id (message/member stores) or "" (room store)
    rows: tuple[int, ...] = ()
    fields: frozenset[str] = field(default_factory=frozenset)
