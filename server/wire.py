"""Turn storage records into the protocol's JSON objects (Room, Message, Member, receipts).

Every field of the version 2 Message and Room objects is always present, in version 1
events too: a version 1 client ignores what it does not know.
"""

from __future__ import annotations

from typing import Any

from server.storage.base import MemberPosition, MessageRecord, RoomView, User


def receipts_for(message: MessageRecord, positions: list[MemberPosition]) -> dict[str, int]:
    """{"delivered", "read", "of"}: the other members whose position reached this message."""
    others = [p for p in positions if p.user_id != message.sender_id]
    return {
        "delivered": sum(1 for p in others if p.delivered >= message.id),
        "read": sum(1 for p in others if p.read >= message.id),
        "of": len(others),
    }


def message_to_wire(
    message: MessageRecord,
    positions: list[MemberPosition] | None = None,
    *,
    thumb: bool = True,
) -> dict[str, Any]:
    """The Message object; pass ``positions`` only when it goes back to its own sender.

    ``thumb=False`` leaves ``image.thumb`` null, as ``message:updated`` may: the receiver
    already holds the thumbnail of a message that exists.
    """
    image = None
    if message.image is not None:
        img = message.image
        # {"id", "mime", "name", "size", "width", "height", "thumb": bytes | None}
        image = {
            "id": img.id,
            "mime": img.mime,
            "name": img.name,
            "size": img.size,
            "width": img.width,
            "height": img.height,
            "thumb": img.thumb if thumb else None,
        }
    reply = message.reply_to
    wire: dict[str, Any] = {
        "id": message.id,
        "room": message.room,
        "sender": message.sender,
        "ts": message.ts,
        "kind": message.kind,
        "text": message.text,
        "client_id": message.client_id,
        "image": image,
        "system": (
            {"event": message.system_event, "user": message.system_user}
            if message.kind == "system"
            else None
        ),
        "seq": message.seq,
        "edited_ts": message.edited_ts,
        "deleted": message.deleted,
        # {"id", "sender", "kind", "text": first 200 code points, "deleted"} as it is now
        "reply_to": (
            None
            if reply is None
            else {
                "id": reply.id,
                "sender": reply.sender,
                "kind": reply.kind,
                "text": "" if reply.deleted else reply.text,
                "deleted": reply.deleted,
            }
        ),
        # [{"emoji", "users": [name, ...]}] in order of first use
        "reactions": [{"emoji": r.emoji, "users": list(r.users)} for r in message.reactions],
        "mentions": list(message.mentions),
        # {"id", "name", "size", "mime"}: an uploaded file (section 17)
        "file": (
            None
            if message.file is None
            else {
                "id": message.file.id,
                "name": message.file.name,
                "size": message.file.size,
                "mime": message.file.mime,
            }
        ),
    }
    if positions is not None and message.sender_id is not None:
        wire["receipts"] = receipts_for(message, positions)
    return wire


def messages_to_wire(
    messages: list[MessageRecord], viewer: User, positions: list[MemberPosition]
) -> list[dict[str, Any]]:
    return [message_to_wire(m, positions if m.sender_id == viewer.id else None) for m in messages]


def room_to_wire(
    view: RoomView, viewer: User, positions: list[MemberPosition] | None = None
) -> dict[str, Any]:
    """The Room object as ``viewer`` sees it. ``positions`` adds receipts to an own last_message."""
    room = view.room
    name = room.id
    if room.dm_users is not None:
        a, b = room.dm_users
        name = b if a.lower() == viewer.name.lower() else a
    last = None
    if view.last_message is not None:
        own = view.last_message.sender_id == viewer.id
        last = message_to_wire(view.last_message, positions if own else None)
    return {
        "id": room.id,
        "name": name,
        "topic": room.topic,
        "kind": room.kind,
        "owner": room.owner,
        "members": room.members,
        "joined": view.joined,
        "unread": view.unread if view.joined else 0,
        "last_message": last,
        "seq": view.seq,
        "read_up_to": view.read_up_to if view.joined else 0,
        "mentions": view.mentions if view.joined else 0,
    }
