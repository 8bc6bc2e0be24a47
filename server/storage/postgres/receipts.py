"""Receipt positions: delivered and read ids per member, and who reached what."""

from __future__ import annotations

from server.storage.base import PositionChange, PositionState, SenderSpan
from server.storage.postgres.engine import PostgresEngine


class ReceiptStore(PostgresEngine):
    async def advance_position(
        self, room_id: str, user_id: int, state: PositionState, message_id: int
    ) -> PositionChange | None:
        # a lost receipt is resent by the client: no need to wait for the WAL flush
        async with self._tx(durable=False) as conn:
            row = await conn.fetchrow(
                "SELECT delivered, read FROM members WHERE room_id = $1 AND user_id = $2"
                " FOR UPDATE",
                room_id,
                user_id,
            )
            if row is None:
                return None
            old_delivered, old_read = int(row[0]), int(row[1])
            newest = int(
                await conn.fetchval(
                    "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = $1", room_id
                )
            )
            target = min(message_id, newest)
            new_delivered = max(old_delivered, target)
            new_read = old_read
            if state == "read":
                new_read = max(old_read, target)
                new_delivered = max(new_delivered, new_read)
            if (new_delivered, new_read) != (old_delivered, old_read):
                await conn.execute(
                    "UPDATE members SET delivered = $1, read = $2"
                    " WHERE room_id = $3 AND user_id = $4",
                    new_delivered,
                    new_read,
                    room_id,
                    user_id,
                )
        return PositionChange(old_delivered, new_delivered, old_read, new_read)

    async def senders_in_span(
        self, room_id: str, after: int, up_to: int, exclude_user_id: int
    ) -> list[SenderSpan]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT m.sender_id, u.name, MAX(m.id) FROM messages m"
                " JOIN users u ON u.id = m.sender_id"
                " WHERE m.room_id = $1 AND m.id > $2 AND m.id <= $3 AND m.sender_id <> $4"
                " GROUP BY m.sender_id, u.name",
                room_id,
                after,
                up_to,
                exclude_user_id,
            )
        return [SenderSpan(r[0], r[1], int(r[2])) for r in rows]

    async def count_reached(
        self, room_id: str, state: PositionState, message_id: int, exclude_user_id: int
    ) -> int:
        column = "read" if state == "read" else "delivered"
        async with self._conn() as conn:
            return int(
                await conn.fetchval(
                    f"SELECT COUNT(*) FROM members WHERE room_id = $1 AND user_id <> $2"
                    f" AND {column} >= $3",
                    room_id,
                    exclude_user_id,
                    message_id,
                )
            )
