"""Receipt positions: delivered and read ids per member, and who reached what."""

from __future__ import annotations

import sqlite3

from server.storage.base import PositionChange, PositionState, SenderSpan
from server.storage.sqlite.engine import SQLiteEngine


class ReceiptStore(SQLiteEngine):
    async def advance_position(
        self, room_id: str, user_id: int, state: PositionState, message_id: int
    ) -> PositionChange | None:
        def tx(conn: sqlite3.Connection) -> PositionChange | None:
            row = conn.execute(
                "SELECT delivered, read FROM members WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            ).fetchone()
            if row is None:
                return None
            old_delivered, old_read = row
            newest = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?", (room_id,)
            ).fetchone()[0]
            target = min(message_id, newest)
            new_delivered = max(old_delivered, target)
            new_read = old_read
            if state == "read":
                new_read = max(old_read, target)
                new_delivered = max(new_delivered, new_read)
            if (new_delivered, new_read) != (old_delivered, old_read):
                conn.execute(
                    "UPDATE members SET delivered = ?, read = ? WHERE room_id = ? AND user_id = ?",
                    (new_delivered, new_read, room_id, user_id),
                )
            return PositionChange(old_delivered, new_delivered, old_read, new_read)

        return await self._write(tx, durable=False)

    async def senders_in_span(
        self, room_id: str, after: int, up_to: int, exclude_user_id: int
    ) -> list[SenderSpan]:
        def q(conn: sqlite3.Connection) -> list[SenderSpan]:
            return [
                SenderSpan(*row)
                for row in conn.execute(
                    "SELECT m.sender_id, u.name, MAX(m.id) FROM messages m"
                    " JOIN users u ON u.id = m.sender_id"
                    " WHERE m.room_id = ? AND m.id > ? AND m.id <= ? AND m.sender_id != ?"
                    " GROUP BY m.sender_id",
                    (room_id, after, up_to, exclude_user_id),
                )
            ]

        return await self._read(q)

    async def count_reached(
        self, room_id: str, state: PositionState, message_id: int, exclude_user_id: int
    ) -> int:
        column = "read" if state == "read" else "delivered"

        def q(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    f"SELECT COUNT(*) FROM members WHERE room_id = ? AND user_id != ?"
                    f" AND {column} >= ?",
                    (room_id, exclude_user_id, message_id),
                ).fetchone()[0]
            )

        return await self._read(q)
