"""Storing and reading messages: inserts, history pages, media bytes.

Per-room order (PROTOCOL.md section 10) by design: an insert first locks its room's row
(``SELECT ... FOR UPDATE``), then takes the room's ``seq`` one up and draws the message id
from the ``messages`` identity sequence, all in one transaction. Every writer of a room
queues on that row lock until the previous one commits, so within a room ids and seqs are
drawn, and become visible, in commit order, however many nodes write.

``(sender, client_id)`` idempotency is the table's unique constraint: a second insert of
the same pair (a resend, possibly on another node at the same moment) does nothing
(``ON CONFLICT DO NOTHING`` waits for the first to commit) and the stored message comes
back with ``created=False``; the room's counter is left alone.
"""

from __future__ import annotations

import logging

import asyncpg

from server.storage.base import MediaBlob, MessageRecord, NewMessage, RoomRecord
from server.storage.base_v2 import UploadUnavailable
from server.storage.postgres.engine import ROOM_COLUMNS, ROOM_FROM, PostgresEngine, room_record
from server.storage.postgres.rows import load_message, load_messages, new_message_record

logger = logging.getLogger(__name__)


class RoomGone(LookupError):
    """``insert_message`` into a room that does not exist (closed meanwhile)."""


async def claim_upload(
    conn: asyncpg.Connection,
    upload_id: str,
    user_id: int,
    message_id: int,
    room_id: str,
    *,
    as_image: bool,
) -> None:
    """Let the message use the upload, or raise UploadUnavailable (the caller rolls back).

    ``as_image``: the bytes were stored as the message's image, so the upload goes, and
    its chunks with it in this transaction."""
    if as_image:
        claimed = await conn.fetchval(
            "DELETE FROM uploads WHERE id = $1 AND user_id = $2 AND message_id IS NULL"
            " RETURNING true",
            upload_id,
            user_id,
        )
        if claimed:
            await conn.execute("DELETE FROM upload_chunks WHERE upload_id = $1", upload_id)
    else:
        claimed = await conn.fetchval(
            "UPDATE uploads SET message_id = $1, room_id = $2"
            " WHERE id = $3 AND user_id = $4 AND message_id IS NULL RETURNING true",
            message_id,
            room_id,
            upload_id,
            user_id,
        )
    if not claimed:
        raise UploadUnavailable("the upload is not available")


async def _by_client_id(
    conn: asyncpg.Connection, sender_id: int, client_id: str
) -> MessageRecord | None:
    return await load_message(conn, "m.sender_id = $1 AND m.client_id = $2", sender_id, client_id)


class MessageStore(PostgresEngine):
    async def insert_message(self, message: NewMessage) -> tuple[MessageRecord, bool]:
        async with self._tx() as conn:
            return await self._insert(conn, message)

    async def _insert(
        self, conn: asyncpg.Connection, msg: NewMessage
    ) -> tuple[MessageRecord, bool]:
        # the room's row lock orders this room's writers (see the module docstring)
        seq = await conn.fetchval("SELECT seq FROM rooms WHERE id = $1 FOR NO KEY UPDATE", msg.room)
        if seq is None:
            raise RoomGone(f"no room {msg.room!r}")
        img = msg.image
        mentions = msg.mentions
        message_id = await conn.fetchval(
            "INSERT INTO messages (room_id, sender_id, ts, kind, text, client_id, image_id,"
            " system_event, system_user, reply_to, mentions, mention_room, seq)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING id",
            msg.room,
            msg.sender_id,
            msg.ts,
            msg.kind,
            msg.text,
            msg.client_id,
            None if img is None else img.id,
            msg.system_event,
            msg.system_user,
            msg.reply_to,
            " ".join(mentions.names),
            int(mentions.room),
            seq + 1,
        )
        if message_id is None:
            # a retry: the first one committed (here or on another node); nothing changes
            assert msg.sender_id is not None and msg.client_id is not None
            existing = await _by_client_id(conn, msg.sender_id, msg.client_id)
            assert existing is not None
            return existing, False
        await conn.execute("UPDATE rooms SET seq = $2 WHERE id = $1", msg.room, seq + 1)
        if mentions.user_ids:
            await conn.execute(
                "INSERT INTO message_mentions (message_id, user_id)"
                " SELECT $1, u FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING",
                message_id,
                list(mentions.user_ids),
            )
        if img is not None:
            await conn.execute(
                "INSERT INTO images (id, room_id, mime, name, size, width, height, thumb,"
                " thumb_mime, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                img.id,
                msg.room,
                img.mime,
                img.name,
                len(img.data),
                img.width,
                img.height,
                img.thumb,
                img.thumb_mime,
                img.data,
            )
        if msg.upload_id is not None:
            assert msg.sender_id is not None
            await claim_upload(
                conn, msg.upload_id, msg.sender_id, message_id, msg.room, as_image=img is not None
            )
        return await new_message_record(conn, message_id), True

    async def send_context(
        self, room_id: str, user_id: int, client_id: str
    ) -> tuple[MessageRecord | None, RoomRecord | None, bool]:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"SELECT {ROOM_COLUMNS}, EXISTS (SELECT 1 FROM members WHERE room_id = r.id"
                f" AND user_id = $2) {ROOM_FROM} WHERE r.id = $1",
                room_id,
                user_id,
            )
            room = None if row is None else room_record(row)
            member = row is not None and bool(row[7])
            if member:
                # the common case in one round trip; a duplicate client_id shows at the insert
                return None, room, True
            existing = await _by_client_id(conn, user_id, client_id)
            if existing is not None:
                return existing, None, False
            return None, room, member

    async def message_by_client_id(self, sender_id: int, client_id: str) -> MessageRecord | None:
        async with self._conn() as conn:
            return await _by_client_id(conn, sender_id, client_id)

    async def get_message(self, room_id: str, message_id: int) -> MessageRecord | None:
        async with self._conn() as conn:
            return await load_message(conn, "m.id = $1 AND m.room_id = $2", message_id, room_id)

    async def history(
        self, room_id: str, before: int | None, after: int | None, limit: int
    ) -> tuple[list[MessageRecord], bool]:
        async with self._snapshot() as conn:
            if after is not None:
                rows = await load_messages(
                    conn,
                    "m.room_id = $1 AND m.id > $2 ORDER BY m.id ASC LIMIT $3",
                    room_id,
                    after,
                    limit + 1,
                )
                return rows[:limit], len(rows) > limit
            bound = before if before is not None else 2**63 - 1
            rows = await load_messages(
                conn,
                "m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3",
                room_id,
                bound,
                limit + 1,
            )
            return list(reversed(rows[:limit])), len(rows) > limit

    async def media(self, image_id: str) -> MediaBlob | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT room_id, mime, name, data FROM images WHERE id = $1", image_id
            )
        return None if row is None else MediaBlob(row[0], row[1], row[2], bytes(row[3]))

    async def message_count(self) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval("SELECT COUNT(*) FROM messages"))
