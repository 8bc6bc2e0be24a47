"""Reading messages: the columns every message query selects, and rows -> MessageRecord.

A message's reply preview comes from a join on its parent, read now (so a parent's edit or
delete shows); its reactions come from one extra query per page of messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from server.protocol import REPLY_PREVIEW_CHARS
from server.storage.base import (
    FileRecord,
    ImageRecord,
    MessageRecord,
    NewImage,
    Reaction,
    ReplyPreview,
)

MESSAGE_COLUMNS = f"""
    m.id, m.room_id, m.sender_id, u.name, m.ts, m.kind, m.text, m.client_id,
    m.system_event, m.system_user,
    i.id, i.mime, i.name, i.size, i.width, i.height, i.thumb, i.thumb_mime,
    m.seq, m.edited_ts, m.deleted, m.mentions,
    p.id, pu.name, p.kind, substr(p.text, 1, {REPLY_PREVIEW_CHARS}), p.deleted,
    f.id, f.name, f.size, f.mime
"""
MESSAGE_FROM = """
    FROM messages m
    LEFT JOIN users u ON u.id = m.sender_id
    LEFT JOIN images i ON i.id = m.image_id
    LEFT JOIN messages p ON p.id = m.reply_to
    LEFT JOIN users pu ON pu.id = p.sender_id
    LEFT JOIN uploads f ON f.message_id = m.id
"""
# SQLite's default limit on host parameters is 999 (older builds); stay well below it
_CHUNK = 500


def _record(row: Sequence[Any], reactions: tuple[Reaction, ...]) -> MessageRecord:
    image = None
    if row[10] is not None:
        image = ImageRecord(
            id=row[10],
            mime=row[11],
            name=row[12],
            size=row[13],
            width=row[14],
            height=row[15],
            thumb=bytes(row[16]),
            thumb_mime=row[17],
        )
    reply = None
    if row[22] is not None:
        reply = ReplyPreview(row[22], row[23], row[24], row[25], bool(row[26]))
    file = None if row[27] is None else FileRecord(row[27], row[28], row[29], row[30])
    return MessageRecord(
        id=row[0],
        room=row[1],
        sender_id=row[2],
        sender=row[3],
        ts=row[4],
        kind=row[5],
        text=row[6],
        client_id=row[7],
        image=image,
        system_event=row[8],
        system_user=row[9],
        seq=row[18],
        edited_ts=row[19],
        deleted=bool(row[20]),
        reply_to=reply,
        reactions=reactions,
        mentions=tuple(row[21].split()),
        file=file,
    )


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
