"""The columns every message query selects, and a selected row -> MessageRecord.

Both backends select the same columns in the same order (their tables match column for
column), so a row becomes a record one way. A reply preview comes from a join on the parent,
read now (so a parent's edit or delete shows); reactions come from one extra query per page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.protocol import REPLY_PREVIEW_CHARS
from server.storage.base import FileRecord, ImageRecord, MessageRecord, Reaction, ReplyPreview

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


def message_record(row: Sequence[Any], reactions: tuple[Reaction, ...]) -> MessageRecord:
    image = None
    if row[10] is not None:
        image = ImageRecord(
            id=row[10],
            mime=row[11],
            name=row[12],
            size=int(row[13]),
            width=row[14],
            height=row[15],
            thumb=bytes(row[16]),
            thumb_mime=row[17],
        )
    reply = None
    if row[22] is not None:
        reply = ReplyPreview(row[22], row[23], row[24], row[25], bool(row[26]))
    file = None if row[27] is None else FileRecord(row[27], row[28], int(row[29]), row[30])
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

