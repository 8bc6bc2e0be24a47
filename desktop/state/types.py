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
        )

    @property
    def is_pending_echo(self) -> bool:
        return self.id is None


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
            last_message=Message.from_wire(last) if isinstance(last, dict) else None,
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
