"""Reading messages: the columns every message query selects, and rows -> MessageRecord.

A message's reply preview comes from a join on its parent, read now (so a parent's edit or
delete shows); its reactions come from one extra query per page of messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from server.storage.base import (
    ImageRecord,
    MessageRecord,
    NewImage,
    Reaction,
)
from server.storage.message_rows import MESSAGE_COLUMNS, MESSAGE_FROM
from server.storage.message_rows import message_record as _record

# SQLite's default limit on host parameters is 999 (older builds); stay well below it
_CHUNK = 500


def reactions_for(
    conn: sqlite3.Connection, message_ids: Iterable[int]
) -> dict[int, tuple[Reaction, ...]]:
    """Each message's reactions: emoji in order of first use, users in the order they reacted."""
    ids = list(message_ids)
    grouped: dict[int, dict[str, list[str]]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for message_id, emoji, name in conn.execute(
            "SELECT r.message_id, r.emoji, u.name FROM reactions r"
            f" JOIN users u ON u.id = r.user_id WHERE r.message_id IN ({marks})"
            " ORDER BY r.message_id, r.emoji_rank, r.id",
            chunk,
        ):
            grouped.setdefault(message_id, {}).setdefault(emoji, []).append(name)
    return {
        mid: tuple(Reaction(emoji, tuple(users)) for emoji, users in by_emoji.items())
        for mid, by_emoji in grouped.items()
    }


def load_messages(
    conn: sqlite3.Connection, where: str, params: Sequence[Any]
) -> list[MessageRecord]:
    """Messages matching ``where`` (SQL over alias ``m``, with its ORDER BY / LIMIT)."""
    rows = conn.execute(f"SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} WHERE {where}", params).fetchall()
    if not rows:
        return []
    reactions = reactions_for(conn, (r[0] for r in rows if not r[20]))
    return [_record(r, reactions.get(r[0], ())) for r in rows]


def load_message(
    conn: sqlite3.Connection, where: str, params: Sequence[Any]
) -> MessageRecord | None:
    found = load_messages(conn, where, params)
    return found[0] if found else None


def new_message_record(conn: sqlite3.Connection, message_id: int) -> MessageRecord:
    """A message just inserted: it has no reactions yet, so no second query."""
    row = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} WHERE m.id = ?", (message_id,)
    ).fetchone()
    return _record(row, ())


def image_record(img: NewImage) -> ImageRecord:
    """The ImageRecord a just-stored image reads back as (its thumbnail, not its bytes)."""
    return ImageRecord(
        id=img.id,
        mime=img.mime,
        name=img.name,
        size=len(img.data),
        width=img.width,
        height=img.height,
        thumb=bytes(img.thumb),
        thumb_mime=img.thumb_mime,
    )
