"""Rooms and membership, and the Room object's per-viewer counts (unread, mentions).

Nothing is cached but what a send checks (see the engine): every write here forgets its
room there, after its commit (or failure). A view of many rooms (``rooms:list``) is two
queries, not a round trip per room.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from server.storage.base import MemberPosition, MessageRecord, RoomKind, RoomRecord, RoomView
from server.storage.postgres.engine import ROOM_COLUMNS, ROOM_FROM, PostgresEngine, room_record
from server.storage.postgres.rows import load_messages

# What ``unread`` counts (v2, section 15): after the read position, not the viewer's own,
# neither deleted nor a system message. {room}, {read} and {viewer} are SQL expressions.
_UNREAD = (
    "SELECT COUNT(*) FROM messages x WHERE x.room_id = {room} AND x.id > {read}"
    " AND x.kind <> 'system' AND x.deleted = 0 AND x.sender_id <> {viewer}"
)
# ... and of those, the ones that mention the viewer by name or through @room
_MENTIONS = _UNREAD + (
    " AND (x.mention_room = 1 OR EXISTS (SELECT 1 FROM message_mentions mm"
    " WHERE mm.message_id = x.id AND mm.user_id = {viewer}))"
)
_LAST_ID = "(SELECT MAX(x.id) FROM messages x WHERE x.room_id = r.id)"


async def _last_messages(
    conn: asyncpg.Connection, last_ids: Sequence[int | None]
) -> dict[int, MessageRecord]:
    ids = [i for i in last_ids if i is not None]
    if not ids:
        return {}
    return {m.id: m for m in await load_messages(conn, "m.id = ANY($1::bigint[])", ids)}


class RoomStore(PostgresEngine):
    async def create_room(
        self, room_id: str, kind: RoomKind, topic: str, owner_id: int | None, member_ids: list[int]
    ) -> bool:
        try:
            async with self._tx() as conn:
                created = await conn.fetchval(
                    "INSERT INTO rooms (id, kind, topic, owner_id) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (id) DO NOTHING RETURNING true",
                    room_id,
                    kind,
                    topic,
                    owner_id,
                )
                if not created:
                    return False
                await conn.execute(
                    "INSERT INTO members (room_id, user_id)"
                    " SELECT $1, u FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING",
                    room_id,
                    member_ids,
                )
            return True
        finally:
            self._forget_rooms([room_id])

    async def get_room(self, room_id: str) -> RoomRecord | None:
        async with self._conn() as conn:
            return await self._room(conn, room_id)

    async def room_seqs(self) -> dict[str, int]:
        async with self._conn() as conn:
            return {r[0]: int(r[1]) for r in await conn.fetch("SELECT id, seq FROM rooms")}

    async def set_topic(self, room_id: str, topic: str) -> None:
        try:
            async with self._tx() as conn:
                await conn.execute("UPDATE rooms SET topic = $1 WHERE id = $2", topic, room_id)
        finally:
            self._forget_rooms([room_id])

    async def delete_room(self, room_id: str) -> None:
        try:
            async with self._tx() as conn:
                # the room's row first: a send to it waits for this delete, then finds no room
                await conn.execute("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", room_id)
                in_room = "SELECT id FROM messages WHERE room_id = $1"
                await conn.execute(
                    f"DELETE FROM reactions WHERE message_id IN ({in_room})", room_id
                )
                await conn.execute(
                    f"DELETE FROM message_mentions WHERE message_id IN ({in_room})", room_id
                )
                # the files its messages used, chunks and all, in this same transaction (their
                # ids listed in doomed_files, as for a deleted message)
                await conn.execute(
                    "INSERT INTO doomed_files (id) SELECT id FROM uploads WHERE room_id = $1"
                    " ON CONFLICT DO NOTHING",
                    room_id,
                )
                await conn.execute(
                    "DELETE FROM upload_chunks WHERE upload_id IN"
                    " (SELECT id FROM uploads WHERE room_id = $1)",
                    room_id,
                )
                await conn.execute("DELETE FROM uploads WHERE room_id = $1", room_id)
                await conn.execute("DELETE FROM messages WHERE room_id = $1", room_id)
                await conn.execute("DELETE FROM images WHERE room_id = $1", room_id)
                await conn.execute("DELETE FROM members WHERE room_id = $1", room_id)
                await conn.execute("DELETE FROM rooms WHERE id = $1", room_id)
        finally:
            self._forget_rooms([room_id])

    async def is_member(self, room_id: str, user_id: int) -> bool:
        async with self._conn() as conn:
            found = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2)",
                room_id,
                user_id,
            )
        return bool(found)

    async def add_member(self, room_id: str, user_id: int) -> bool:
        try:
            async with self._tx() as conn:
                added = await conn.fetchval(
                    "INSERT INTO members (room_id, user_id, delivered, read)"
                    " SELECT $1, $2, n, n FROM (SELECT COALESCE(MAX(id), 0) AS n FROM messages"
                    " WHERE room_id = $1) AS newest"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    room_id,
                    user_id,
                )
            return bool(added)
        finally:
            self._forget_rooms([room_id])

    async def remove_member(self, room_id: str, user_id: int) -> bool:
        try:
            async with self._tx() as conn:
                gone = await conn.fetchval(
                    "DELETE FROM members WHERE room_id = $1 AND user_id = $2 RETURNING true",
                    room_id,
                    user_id,
                )
            return bool(gone)
        finally:
            self._forget_rooms([room_id])

    async def member_room_ids(self, user_id: int) -> list[str]:
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT room_id FROM members WHERE user_id = $1", user_id)
        return [r[0] for r in rows]

    async def members(self, room_id: str) -> list[MemberPosition]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT u.id, u.name, m.delivered, m.read FROM members m"
                " JOIN users u ON u.id = m.user_id WHERE m.room_id = $1"
                ' ORDER BY u.name_key COLLATE "C"',
                room_id,
            )
        return [MemberPosition(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    # -- the Room object as one viewer sees it ----------------------------------------------

    @staticmethod
    async def _views(conn: asyncpg.Connection, room_ids: list[str], user_id: int) -> list[RoomView]:
        """The rooms as ``user_id`` sees them, in the order of ``room_ids``."""
        unread = _UNREAD.format(room="r.id", read="mb.read", viewer="$2")
        mentions = _MENTIONS.format(room="r.id", read="mb.read", viewer="$2")
        rows = await conn.fetch(
            f"SELECT {ROOM_COLUMNS}, r.seq, mb.read,"
            f" CASE WHEN mb.user_id IS NULL THEN 0 ELSE ({unread}) END,"
            f" CASE WHEN mb.user_id IS NULL THEN 0 ELSE ({mentions}) END,"
            f" {_LAST_ID}"
            f" {ROOM_FROM} LEFT JOIN members mb ON mb.room_id = r.id AND mb.user_id = $2"
            " WHERE r.id = ANY($1::text[])",
            room_ids,
            user_id,
        )
        last = await _last_messages(conn, [r[11] for r in rows])
        by_id = {r[0]: r for r in rows}
        views = []
        for room_id in room_ids:
            row = by_id.get(room_id)
            if row is None:
                continue
            joined = row[8] is not None
            views.append(
                RoomView(
                    room_record(row),
                    joined,
                    int(row[9]),
                    None if row[11] is None else last.get(row[11]),
                    seq=int(row[7]),
                    read_up_to=int(row[8]) if joined else 0,
                    mentions=int(row[10]),
                )
            )
        return views

    async def list_rooms(self, user_id: int, public_limit: int | None = None) -> list[RoomView]:
        async with self._snapshot() as conn:
            if public_limit is None:
                rows = await conn.fetch(
                    "SELECT id FROM rooms WHERE kind = 'public'"
                    " OR id IN (SELECT room_id FROM members WHERE user_id = $1)"
                    ' ORDER BY id COLLATE "C"',
                    user_id,
                )
                ids = [r[0] for r in rows]
            else:  # every joined room, and the biggest public rooms the user is not in
                mine = await conn.fetch(
                    'SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id COLLATE "C"',
                    user_id,
                )
                others = await conn.fetch(
                    "SELECT r.id FROM rooms r WHERE r.kind = 'public' AND NOT EXISTS"
                    " (SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = $1)"
                    " ORDER BY (SELECT COUNT(*) FROM members m WHERE m.room_id = r.id) DESC,"
                    ' r.id COLLATE "C" LIMIT $2',
                    user_id,
                    public_limit,
                )
                ids = [r[0] for r in mine] + [r[0] for r in others]
            return await self._views(conn, ids, user_id)

    async def room_view(self, room_id: str, user_id: int) -> RoomView | None:
        async with self._snapshot() as conn:
            views = await self._views(conn, [room_id], user_id)
        return views[0] if views else None

    async def member_views(self, room_id: str, user_ids: list[int]) -> dict[int, RoomView]:
        if not user_ids:
            return {}
        unread = _UNREAD.format(room="$1", read="mb.read", viewer="mb.user_id")
        mentions = _MENTIONS.format(room="$1", read="mb.read", viewer="mb.user_id")
        async with self._snapshot() as conn:
            room_row = await conn.fetchrow(
                f"SELECT {ROOM_COLUMNS}, r.seq, {_LAST_ID} {ROOM_FROM} WHERE r.id = $1", room_id
            )
            if room_row is None:
                return {}
            room = room_record(room_row)
            seq, last_id = int(room_row[7]), room_row[8]
            last = (await _last_messages(conn, [last_id])).get(last_id) if last_id else None
            rows = await conn.fetch(
                f"SELECT mb.user_id, mb.read, ({unread}), ({mentions}) FROM members mb"
                " WHERE mb.room_id = $1 AND mb.user_id = ANY($2::bigint[])",
                room_id,
                user_ids,
            )
        return {
            r[0]: RoomView(
                room, True, int(r[2]), last, seq=seq, read_up_to=int(r[1]), mentions=int(r[3])
            )
            for r in rows
        }
