"""Small builders for the storage suite: users, rooms and messages in one line each."""

from __future__ import annotations

import itertools
from typing import Any

from server.storage.base import NO_MENTIONS, MessageRecord, NewMessage, RoomKind, Storage, User

_ts = itertools.count(1_764_000_000_000)


async def user(storage: Storage, name: str) -> User:
    created = await storage.create_user(name, "hash-" + name, next(_ts))
    assert created is not None
    return created


async def room(
    storage: Storage,
    room_id: str,
    members: list[User],
    kind: RoomKind = "public",
    owner: User | None = None,
    topic: str = "",
) -> str:
    owner_id = owner.id if owner is not None else (members[0].id if members else None)
    assert await storage.create_room(room_id, kind, topic, owner_id, [m.id for m in members])
    return room_id


def new(
    room_id: str, sender: User | None, text: str, cid: str | None = None, **kw: Any
) -> NewMessage:
    kw.setdefault("mentions", NO_MENTIONS)
    return NewMessage(
        room=room_id,
        sender_id=None if sender is None else sender.id,
        ts=next(_ts),
        kind=kw.pop("kind", "text" if sender is not None else "system"),
        text=text,
        client_id=cid,
        **kw,
    )


async def send(
    storage: Storage, room_id: str, sender: User | None, text: str, **kw: Any
) -> MessageRecord:
    record, created = await storage.insert_message(new(room_id, sender, text, **kw))
    assert created
    return record
