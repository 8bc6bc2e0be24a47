"""Changes to existing messages (edit, delete, reactions) and ``message:changes`` reads.

Each change checks its preconditions and stores itself in one write transaction, and takes
the room's ``seq`` one up there (``UPDATE rooms ... RETURNING seq``: the room row is the
lock a multi-writer backend would take first). Nothing is written for a refused or a
no-op change, so the counter stays dense.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from server.storage.base import ChangeOutcome, ChangesPage, ChangeStatus, Mentions
from server.storage.sqlite.engine import SQLiteEngine
from server.storage.sqlite.rows import load_message, load_messages


def _next_seq(conn: sqlite3.Connection, room_id: str) -> int:
    return int(
        conn.execute(
            "UPDATE rooms SET seq = seq + 1 WHERE id = ? RETURNING seq", (room_id,)
        ).fetchone()[0]
    )


def _target(conn: sqlite3.Connection, room_id: str, message_id: int) -> tuple[Any, ...] | None:
    """(sender_id, kind, deleted, text, image_id) of the room's message, or None."""
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT sender_id, kind, deleted, text, image_id FROM messages"
        " WHERE id = ? AND room_id = ?",
        (message_id, room_id),
    ).fetchone()
    return row


def _outcome(conn: sqlite3.Connection, status: ChangeStatus, message_id: int) -> ChangeOutcome:
    return ChangeOutcome(status, load_message(conn, "m.id = ?", (message_id,)))


def _set_mentions(conn: sqlite3.Connection, message_id: int, mentions: Mentions) -> None:
    conn.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
    if mentions.user_ids:
        conn.executemany(
            "INSERT OR IGNORE INTO message_mentions (message_id, user_id) VALUES (?, ?)",
            [(message_id, uid) for uid in mentions.user_ids],
        )


class RelationStore(SQLiteEngine):
    async def edit_message(
        self,
        room_id: str,
        message_id: int,
        editor_id: int,
        text: str,
        mentions: Mentions,
        ts: int,
    ) -> ChangeOutcome:
        def tx(conn: sqlite3.Connection) -> ChangeOutcome:
            row = _target(conn, room_id, message_id)
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
                return _outcome(conn, "unchanged", message_id)
            seq = _next_seq(conn, room_id)
            conn.execute(
                "UPDATE messages SET text = ?, edited_ts = ?, mentions = ?, mention_room = ?,"
                " seq = ? WHERE id = ?",
                (text, ts, " ".join(mentions.names), int(mentions.room), seq, message_id),
            )
            _set_mentions(conn, message_id, mentions)
            return _outcome(conn, "changed", message_id)

        return await self._write(tx)

    async def delete_message(
        self, room_id: str, message_id: int, user_id: int, moderator: bool
    ) -> ChangeOutcome:
        def tx(conn: sqlite3.Connection) -> ChangeOutcome:
            row = _target(conn, room_id, message_id)
            if row is None:
                return ChangeOutcome("not_found")
            sender_id, kind, deleted, _, image_id = row
            if kind == "system":
                return ChangeOutcome("system")
            if sender_id != user_id and not moderator:
                return ChangeOutcome("forbidden")
            if deleted:
                return _outcome(conn, "unchanged", message_id)
            seq = _next_seq(conn, room_id)
            # the tombstone: what stays is id, room, sender, ts, kind and client_id
            conn.execute(
                "UPDATE messages SET deleted = 1, text = '', image_id = NULL, reply_to = NULL,"
                " mentions = '', mention_room = 0, edited_ts = NULL, seq = ? WHERE id = ?",
                (seq, message_id),
            )
            if image_id is not None:
                conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
            conn.execute("DELETE FROM reactions WHERE message_id = ?", (message_id,))
            conn.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
            return _outcome(conn, "changed", message_id)

        return await self._write(tx)

    async def set_reaction(
        self, room_id: str, message_id: int, user_id: int, emoji: str, on: bool, max_distinct: int
    ) -> ChangeOutcome:
        def tx(conn: sqlite3.Connection) -> ChangeOutcome:
            row = _target(conn, room_id, message_id)
            if row is None:
                return ChangeOutcome("not_found")
            _, kind, deleted, _, _ = row
            if kind == "system":
                return ChangeOutcome("system")
            if deleted:
                return ChangeOutcome("deleted")
            if on:
                ranks = dict(
                    conn.execute(
                        "SELECT emoji, MIN(emoji_rank) FROM reactions WHERE message_id = ?"
                        " GROUP BY emoji",
                        (message_id,),
                    ).fetchall()
                )
                rank = ranks.get(emoji)
                if rank is None:
                    if len(ranks) >= max_distinct:
                        return ChangeOutcome("too_many")
                    rank = max(ranks.values(), default=0) + 1
                cur = conn.execute(
                    "INSERT INTO reactions (message_id, emoji, emoji_rank, user_id)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (message_id, emoji, user_id) DO NOTHING",
                    (message_id, emoji, rank, user_id),
                )
            else:
                cur = conn.execute(
                    "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?",
                    (message_id, emoji, user_id),
                )
            if cur.rowcount == 0:
                return _outcome(conn, "unchanged", message_id)
            seq = _next_seq(conn, room_id)
            conn.execute("UPDATE messages SET seq = ? WHERE id = ?", (seq, message_id))
            return _outcome(conn, "changed", message_id)

        return await self._write(tx)

    async def changes(self, room_id: str, since: int, limit: int) -> ChangesPage:
        def q(conn: sqlite3.Connection) -> ChangesPage:
            row = conn.execute("SELECT seq FROM rooms WHERE id = ?", (room_id,)).fetchone()
            seq = 0 if row is None else int(row[0])
            found = load_messages(
                conn,
                "m.room_id = ? AND m.seq > ? ORDER BY m.seq ASC LIMIT ?",
                (room_id, since, limit + 1),
            )
            return ChangesPage(found[:limit], len(found) > limit, seq)

        # one read transaction: the answer's seq and its messages are the same snapshot
        return await self._snapshot(q)
