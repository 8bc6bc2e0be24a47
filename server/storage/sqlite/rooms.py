"""Rooms and membership, and the Room object's per-viewer counts (unread, mentions)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from server.storage.base import MemberPosition, MessageRecord, RoomKind, RoomRecord, RoomView
from server.storage.sqlite.engine import SQLiteEngine
from server.storage.sqlite.rows import load_message

# What ``unread`` counts (v2, section 15): after the read position, not the viewer's own,
# neither deleted nor a system message. Parameters: room, read position, viewer.
_UNREAD_WHERE = (
    "m.room_id = ? AND m.id > ? AND m.kind != 'system' AND m.deleted = 0 AND m.sender_id != ?"
)
# ... and of those, the ones that mention the viewer by name or through @room (viewer again)
_MENTIONS_WHERE = (
    _UNREAD_WHERE + " AND (m.mention_room = 1 OR EXISTS (SELECT 1 FROM message_mentions mm"
    " WHERE mm.message_id = m.id AND mm.user_id = ?))"
)


class RoomStore(SQLiteEngine):
    async def create_room(
        self, room_id: str, kind: RoomKind, topic: str, owner_id: int | None, member_ids: list[int]
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> RoomRecord | None:
            cur = conn.execute(
                "INSERT INTO rooms (id, kind, topic, owner_id) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO NOTHING",
                (room_id, kind, topic, owner_id),
            )
            if cur.rowcount == 0:
                return None
            conn.executemany(
                "INSERT OR IGNORE INTO members (room_id, user_id) VALUES (?, ?)",
                [(room_id, uid) for uid in member_ids],
            )
            return self._room_sync(conn, room_id)

        room = await self._write(tx)
        if room is None:
            return False
        self._rooms[room_id] = room
        self._members[room_id] = set(member_ids)
        return True

    async def get_room(self, room_id: str) -> RoomRecord | None:
        return self._cached_room(room_id)

    async def room_seqs(self) -> dict[str, int]:
        return await self._read(
            lambda conn: {room: seq for room, seq in conn.execute("SELECT id, seq FROM rooms")}
        )

    async def set_topic(self, room_id: str, topic: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE rooms SET topic = ? WHERE id = ?", (topic, room_id))

        await self._write(tx)
        room = self._rooms.get(room_id)
        if room is not None:
            self._rooms[room_id] = replace(room, topic=topic)

    async def delete_room(self, room_id: str) -> None:
        # forgotten before the delete commits: no send slips in once the close began
        self._rooms.pop(room_id, None)
        self._members.pop(room_id, None)

        def tx(conn: sqlite3.Connection) -> None:
            in_room = "SELECT id FROM messages WHERE room_id = ?"
            conn.execute(f"DELETE FROM reactions WHERE message_id IN ({in_room})", (room_id,))
            conn.execute(
                f"DELETE FROM message_mentions WHERE message_id IN ({in_room})", (room_id,)
            )
            conn.execute("DELETE FROM messages WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM images WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM members WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,))

        await self._write(tx)

    async def is_member(self, room_id: str, user_id: int) -> bool:
        return user_id in self._members.get(room_id, ())

    async def add_member(self, room_id: str, user_id: int) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            newest = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?", (room_id,)
            ).fetchone()[0]
            cur = conn.execute(
                "INSERT OR IGNORE INTO members (room_id, user_id, delivered, read)"
                " VALUES (?, ?, ?, ?)",
                (room_id, user_id, newest, newest),
            )
            return cur.rowcount > 0

        added = await self._write(tx)
        if added and room_id in self._rooms:
            self._members.setdefault(room_id, set()).add(user_id)
        return added

    async def remove_member(self, room_id: str, user_id: int) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
            return cur.rowcount > 0

        # forgotten before the delete commits: no send from the leaver slips in after it
        self._members.get(room_id, set()).discard(user_id)
        return await self._write(tx)

    async def member_room_ids(self, user_id: int) -> list[str]:
        def q(conn: sqlite3.Connection) -> list[str]:
            return [
                r[0]
                for r in conn.execute("SELECT room_id FROM members WHERE user_id = ?", (user_id,))
            ]

        return await self._read(q)

    async def members(self, room_id: str) -> list[MemberPosition]:
        def q(conn: sqlite3.Connection) -> list[MemberPosition]:
            return [
                MemberPosition(*row)
                for row in conn.execute(
                    "SELECT u.id, u.name, m.delivered, m.read FROM members m"
                    " JOIN users u ON u.id = m.user_id WHERE m.room_id = ? ORDER BY u.name_key",
                    (room_id,),
                )
            ]

        return await self._read(q)

    # -- the Room object as one viewer sees it ----------------------------------------------

    @staticmethod
    def _last_message_sync(conn: sqlite3.Connection, room_id: str) -> MessageRecord | None:
        return load_message(conn, "m.room_id = ? ORDER BY m.id DESC LIMIT 1", (room_id,))

    @staticmethod
    def _room_seq_sync(conn: sqlite3.Connection, room_id: str) -> int:
        row = conn.execute("SELECT seq FROM rooms WHERE id = ?", (room_id,)).fetchone()
        return 0 if row is None else int(row[0])

    @staticmethod
    def _counts_sync(
        conn: sqlite3.Connection, room_id: str, user_id: int, read: int
    ) -> tuple[int, int]:
        unread = conn.execute(
            f"SELECT COUNT(*) FROM messages m WHERE {_UNREAD_WHERE}", (room_id, read, user_id)
        ).fetchone()[0]
        mentions = 0
        if unread:
            mentions = conn.execute(
                f"SELECT COUNT(*) FROM messages m WHERE {_MENTIONS_WHERE}",
                (room_id, read, user_id, user_id),
            ).fetchone()[0]
        return int(unread), int(mentions)

    def _view_sync(self, conn: sqlite3.Connection, room_id: str, user_id: int) -> RoomView | None:
        room = self._room_sync(conn, room_id)
        if room is None:
            return None
        pos = conn.execute(
            "SELECT read FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
        ).fetchone()
        unread = mentions = read = 0
        if pos is not None:
            read = pos[0]
            unread, mentions = self._counts_sync(conn, room_id, user_id, read)
        return RoomView(
            room,
            pos is not None,
            unread,
            self._last_message_sync(conn, room_id),
            seq=self._room_seq_sync(conn, room_id),
            read_up_to=read,
            mentions=mentions,
        )

    async def list_rooms(self, user_id: int, public_limit: int | None = None) -> list[RoomView]:
        def q(conn: sqlite3.Connection) -> list[RoomView]:
            if public_limit is None:
                ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM rooms WHERE kind = 'public'"
                        " OR id IN (SELECT room_id FROM members WHERE user_id = ?) ORDER BY id",
                        (user_id,),
                    )
                ]
            else:  # every joined room, and the biggest public rooms the user is not in
                mine = [
                    r[0]
                    for r in conn.execute(
                        "SELECT room_id FROM members WHERE user_id = ?", (user_id,)
                    )
                ]
                others = [
                    r[0]
                    for r in conn.execute(
                        "SELECT r.id FROM rooms r WHERE r.kind = 'public' AND NOT EXISTS"
                        " (SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = ?)"
                        " ORDER BY (SELECT COUNT(*) FROM members m WHERE m.room_id = r.id) DESC,"
                        " r.id LIMIT ?",
                        (user_id, public_limit),
                    )
                ]
                ids = sorted(mine) + others
            views = (self._view_sync(conn, rid, user_id) for rid in ids)
            return [v for v in views if v is not None]

        return await self._snapshot(q)

    async def room_view(self, room_id: str, user_id: int) -> RoomView | None:
        return await self._snapshot(lambda conn: self._view_sync(conn, room_id, user_id))

    async def member_views(self, room_id: str, user_ids: list[int]) -> dict[int, RoomView]:
        wanted = set(user_ids)

        def q(conn: sqlite3.Connection) -> dict[int, RoomView]:
            room = self._room_sync(conn, room_id)
            if room is None or not wanted:
                return {}
            last = self._last_message_sync(conn, room_id)
            seq = self._room_seq_sync(conn, room_id)
            views = {}
            for uid, read in conn.execute(
                "SELECT user_id, read FROM members WHERE room_id = ?", (room_id,)
            ).fetchall():
                if uid in wanted:
                    unread, mentions = self._counts_sync(conn, room_id, uid, read)
                    views[uid] = RoomView(
                        room, True, unread, last, seq=seq, read_up_to=read, mentions=mentions
                    )
            return views

        return await self._snapshot(q)
