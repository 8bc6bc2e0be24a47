"""Changes to existing messages (edit, delete, reactions) and ``message:changes`` reads.

Each change first locks its room's row (the same lock inserts take), then checks its
preconditions and stores itself, taking the room's ``seq`` one up, in one transaction: two
racing changes (an edit and a delete of one message, on two nodes) are serialised, and
seqs stay dense and in commit order. Nothing is written for a refused or a no-op change.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from server.storage.base import ChangeOutcome, ChangesPage, ChangeStatus, Mentions
from server.storage.postgres.engine import PostgresEngine
from server.storage.postgres.rows import load_message, load_messages


async def _lock_room(conn: asyncpg.Connection, room_id: str) -> int | None:
    """Take the room's row lock; its seq, or None when there is no such room."""
    seq = await conn.fetchval("SELECT seq FROM rooms WHERE id = $1 FOR NO KEY UPDATE", room_id)
    return None if seq is None else int(seq)


async def _next_seq(conn: asyncpg.Connection, room_id: str) -> int:
    return int(
        await conn.fetchval("UPDATE rooms SET seq = seq + 1 WHERE id = $1 RETURNING seq", room_id)
    )


async def _target(conn: asyncpg.Connection, room_id: str, message_id: int) -> Any:
    """(sender_id, kind, deleted, text, image_id) of the room's message, or None."""
    return await conn.fetchrow(
        "SELECT sender_id, kind, deleted, text, image_id FROM messages"
        " WHERE id = $1 AND room_id = $2",
        message_id,
        room_id,
    )


async def _outcome(
    conn: asyncpg.Connection, status: ChangeStatus, message_id: int
) -> ChangeOutcome:
    return ChangeOutcome(status, await load_message(conn, "m.id = $1", message_id))


async def _set_mentions(conn: asyncpg.Connection, message_id: int, mentions: Mentions) -> None:
    await conn.execute("DELETE FROM message_mentions WHERE message_id = $1", message_id)
    if mentions.user_ids:
        await conn.execute(
            "INSERT INTO message_mentions (message_id, user_id)"
            " SELECT $1, u FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING",
            message_id,
            list(mentions.user_ids),
        )


class RelationStore(PostgresEngine):
    async def edit_message(
        self,
        room_id: str,
        message_id: int,
        editor_id: int,
        text: str,
        mentions: Mentions,
        ts: int,
    ) -> ChangeOutcome:
        async with self._tx() as conn:
            if await _lock_room(conn, room_id) is None:
                return ChangeOutcome("not_found")
            row = await _target(conn, room_id, message_id)
            if row is None:
                return ChangeOutcome("not_found")
            sender_id, kind, deleted, old_text, _ = row
            if kind == "system":
                return ChangeOutcome("system")
            if sender_id != editor_id:
                return ChangeOutcome("forbidden")
            if deleted:
                return ChangeOutcome("deleted")
            if text == old_text:
                return await _outcome(conn, "unchanged", message_id)
            seq = await _next_seq(conn, room_id)
            # the search index follows in this transaction (trigger on messages.text)
            await conn.execute(
                "UPDATE messages SET text = $1, edited_ts = $2, mentions = $3, mention_room = $4,"
                " seq = $5 WHERE id = $6",
                text,
                ts,
                " ".join(mentions.names),
                int(mentions.room),
                seq,
                message_id,
            )
            await _set_mentions(conn, message_id, mentions)
            return await _outcome(conn, "changed", message_id)

    async def delete_message(
        self, room_id: str, message_id: int, user_id: int, moderator: bool
    ) -> ChangeOutcome:
        async with self._tx() as conn:
            if await _lock_room(conn, room_id) is None:
                return ChangeOutcome("not_found")
            row = await _target(conn, room_id, message_id)
            if row is None:
                return ChangeOutcome("not_found")
            sender_id, kind, deleted, _, image_id = row
            if kind == "system":
                return ChangeOutcome("system")
            if sender_id != user_id and not moderator:
                return ChangeOutcome("forbidden")
            if deleted:
                return await _outcome(conn, "unchanged", message_id)
            seq = await _next_seq(conn, room_id)
            # the tombstone: what stays is id, room, sender, ts, kind and client_id
            await conn.execute(
                "UPDATE messages SET deleted = 1, text = '', image_id = NULL, reply_to = NULL,"
                " mentions = '', mention_room = 0, edited_ts = NULL, seq = $1 WHERE id = $2",
                seq,
                message_id,
            )
            if image_id is not None:
                await conn.execute("DELETE FROM images WHERE id = $1", image_id)
            # the file it used goes, its chunks too, in this same transaction; its id is
            # still listed in doomed_files for a file store that keeps bytes elsewhere
            await conn.execute(
                "INSERT INTO doomed_files (id) SELECT id FROM uploads WHERE message_id = $1"
                " ON CONFLICT DO NOTHING",
                message_id,
            )
            await conn.execute(
                "DELETE FROM upload_chunks WHERE upload_id IN"
                " (SELECT id FROM uploads WHERE message_id = $1)",
                message_id,
            )
            await conn.execute("DELETE FROM uploads WHERE message_id = $1", message_id)
            await conn.execute("DELETE FROM reactions WHERE message_id = $1", message_id)
            await conn.execute("DELETE FROM message_mentions WHERE message_id = $1", message_id)
            return await _outcome(conn, "changed", message_id)

    async def set_reaction(
        self, room_id: str, message_id: int, user_id: int, emoji: str, on: bool, max_distinct: int
    ) -> ChangeOutcome:
        async with self._tx() as conn:
            if await _lock_room(conn, room_id) is None:
                return ChangeOutcome("not_found")
            row = await _target(conn, room_id, message_id)
            if row is None:
                return ChangeOutcome("not_found")
            _, kind, deleted, _, _ = row
            if kind == "system":
                return ChangeOutcome("system")
            if deleted:
                return ChangeOutcome("deleted")
            if on:
                ranks = {
                    r[0]: r[1]
                    for r in await conn.fetch(
                        "SELECT emoji, MIN(emoji_rank) FROM reactions WHERE message_id = $1"
                        " GROUP BY emoji",
                        message_id,
                    )
                }
                rank = ranks.get(emoji)
                if rank is None:
                    if len(ranks) >= max_distinct:
                        return ChangeOutcome("too_many")
                    rank = max(ranks.values(), default=0) + 1
                done = await conn.fetchval(
                    "INSERT INTO reactions (message_id, emoji, emoji_rank, user_id)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, emoji, user_id) DO NOTHING"
                    " RETURNING true",
                    message_id,
                    emoji,
                    rank,
                    user_id,
                )
            else:
                done = await conn.fetchval(
                    "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3"
                    " RETURNING true",
                    message_id,
                    emoji,
                    user_id,
                )
            if not done:
                return await _outcome(conn, "unchanged", message_id)
            seq = await _next_seq(conn, room_id)
            await conn.execute("UPDATE messages SET seq = $1 WHERE id = $2", seq, message_id)
            return await _outcome(conn, "changed", message_id)

    async def changes(self, room_id: str, since: int, limit: int) -> ChangesPage:
        # one snapshot: the answer's seq and its messages are the same committed state
        async with self._snapshot() as conn:
            seq = await conn.fetchval("SELECT seq FROM rooms WHERE id = $1", room_id)
            found = await load_messages(
                conn,
                "m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3",
                room_id,
                since,
                limit + 1,
            )
        return ChangesPage(found[:limit], len(found) > limit, 0 if seq is None else int(seq))
