"""Storing and reading messages: group commit for inserts, history pages, media bytes.

Concurrent ``insert_message`` calls are batched into one transaction (one fsync) while the
previous batch commits; each caller's future resolves only after its batch committed, so an
ack never precedes durability. Each insert takes its room's ``seq`` one up in the same
transaction (the writer thread is the only writer, so ids and seqs follow commit order).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from server.storage.base import MediaBlob, MessageRecord, NewMessage, RoomRecord
from server.storage.sqlite.engine import PendingInsert, SQLiteEngine
from server.storage.sqlite.rows import (
    image_record,
    load_message,
    load_messages,
    new_message_record,
)
from server.storage.sqlite.schema_v3 import INDEX_NEW_MESSAGE
from server.storage.sqlite.uploads import claim_upload_sync

logger = logging.getLogger(__name__)

_INSERT_COLUMNS = (
    "INSERT INTO messages (room_id, sender_id, ts, kind, text, client_id, image_id,"
    " system_event, system_user, reply_to, mentions, mention_room, seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
)
_ON_RETRY = " ON CONFLICT (sender_id, client_id) DO NOTHING"
# the savepoint path: the room's next seq read by the insert itself
_INSERT_SEQ_FROM_ROOM = _INSERT_COLUMNS + "(SELECT seq + 1 FROM rooms WHERE id = ?))" + _ON_RETRY
# the batch's fast path: the seq counted by the batch (see _insert_batch)
_INSERT_WITH_SEQ = _INSERT_COLUMNS + "?)" + _ON_RETRY


class MessageStore(SQLiteEngine):
    async def insert_message(self, message: NewMessage) -> tuple[MessageRecord, bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[MessageRecord, bool]] = loop.create_future()
        self._pending.append((message, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_pending())
        return await asyncio.shield(future)

    async def _flush_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self._run(lambda conn, b=batch: self._insert_batch(conn, b))  # type: ignore[misc]
            except Exception as exc:
                logger.exception("message batch of %d failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    def _insert_batch(
        self, conn: sqlite3.Connection, batch: list[PendingInsert]
    ) -> list[tuple[MessageRecord, bool] | Exception]:
        # One transaction for the batch. The fast path takes no savepoints: FTS5 writes its
        # pending index out at every savepoint, which made each message its own index segment
        # and tripled the writer's CPU per message (bench/README.md, "Fan-out after v2"). A
        # failure is rare (text that slipped past validation, a raced upload claim): then the
        # batch is rolled back and redone with a savepoint per message, so it stays that
        # message's alone.
        # The rooms' seq counters are read once per room and written once per room at the
        # end of the batch (``seqs``), not one UPDATE per message: BEGIN IMMEDIATE holds the
        # database's write lock from the first read to the COMMIT, so no other writer can
        # take a seq in between, and seqs still follow ids in commit order.
        conn.execute("BEGIN IMMEDIATE")
        try:
            seqs: dict[str, list[int]] = {}
            fast = [self._insert_one(conn, msg, seqs) for msg, _ in batch]
            for room_id, (first, last) in seqs.items():
                if last != first:
                    conn.execute("UPDATE rooms SET seq = ? WHERE id = ?", (last, room_id))
        except Exception:  # noqa: BLE001 - redone one by one below, where it is reported
            conn.execute("ROLLBACK")
            return self._insert_batch_isolated(conn, batch)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return list(fast)

    def _insert_batch_isolated(
        self, conn: sqlite3.Connection, batch: list[PendingInsert]
    ) -> list[tuple[MessageRecord, bool] | Exception]:
        # the slow path: a savepoint per message so one failure stays its own
        results: list[tuple[MessageRecord, bool] | Exception] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for msg, _ in batch:
                conn.execute("SAVEPOINT one")
                try:
                    results.append(self._insert_one(conn, msg))
                except Exception as exc:  # noqa: BLE001 - any failure is this message's alone
                    # e.g. sqlite3.Error, or UnicodeEncodeError for text that slipped past
                    # validation: only this caller gets it, never its batch neighbours
                    conn.execute("ROLLBACK TO one")
                    results.append(exc)
                conn.execute("RELEASE one")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return results

    def _insert_one(
        self,
        conn: sqlite3.Connection,
        msg: NewMessage,
        seqs: dict[str, list[int]] | None = None,
    ) -> tuple[MessageRecord, bool]:
        """Store one message; ``seqs`` (the batch's fast path) defers the rooms' seq updates.

        ``seqs`` maps a room to [its seq before the batch, the last seq taken]; the caller
        writes the last one back before COMMIT. Without it (the savepoint path) every
        message moves its room's counter itself, so a rolled-back message takes no seq.
        """
        img = msg.image
        mentions = msg.mentions
        mention_names = " ".join(mentions.names)
        values: tuple[object, ...] = (
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
            mention_names,
            int(mentions.room),
        )
        # UNIQUE(sender_id, client_id) reports a retry; only then is the stored row looked up.
        # The seq is the room's next one; the room's counter moves only if the row went in.
        if seqs is None:
            cur = conn.execute(_INSERT_SEQ_FROM_ROOM, (*values, msg.room))
            seq = None
        else:
            taken = seqs.get(msg.room)
            if taken is None:
                row = conn.execute("SELECT seq FROM rooms WHERE id = ?", (msg.room,)).fetchone()
                if row is None:
                    raise sqlite3.IntegrityError(f"no room {msg.room}")
                taken = seqs[msg.room] = [row[0], row[0]]
            seq = taken[1] + 1
            cur = conn.execute(_INSERT_WITH_SEQ, (*values, seq))
        if cur.rowcount == 0:
            assert msg.sender_id is not None and msg.client_id is not None
            existing = self._by_client_id_sync(conn, msg.sender_id, msg.client_id)
            assert existing is not None
            return existing, False
        message_id = int(cur.lastrowid or 0)
        if seqs is None:
            conn.execute("UPDATE rooms SET seq = seq + 1 WHERE id = ?", (msg.room,))
        else:
            seqs[msg.room][1] = seq  # type: ignore[assignment]
        if msg.kind != "system" and msg.text:
            conn.execute(INDEX_NEW_MESSAGE, (message_id, msg.text, msg.room, msg.sender_id))
        if mentions.user_ids:
            conn.executemany(
                "INSERT OR IGNORE INTO message_mentions (message_id, user_id) VALUES (?, ?)",
                [(message_id, uid) for uid in mentions.user_ids],
            )
        if img is not None:
            conn.execute(
                "INSERT INTO images (id, room_id, mime, name, size, width, height, thumb,"
                " thumb_mime, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                ),
            )
        if msg.upload_id is not None:
            assert msg.sender_id is not None
            claim_upload_sync(
                conn, msg.upload_id, msg.sender_id, message_id, msg.room, as_image=img is not None
            )
        if seq is None or msg.reply_to is not None or msg.upload_id is not None:
            # a reply's preview and a file's row are read back from what was stored
            return new_message_record(conn, message_id), True
        # Everything else of a new message is what was just written: built here, not read
        # back through the five-way join (that read was a quarter of the writer's time).
        return (
            MessageRecord(
                id=message_id,
                room=msg.room,
                sender_id=msg.sender_id,
                sender=self._sender_name(conn, msg.sender_id),
                ts=msg.ts,
                kind=msg.kind,
                text=msg.text,
                client_id=msg.client_id,
                image=None if img is None else image_record(img),
                system_event=msg.system_event,
                system_user=msg.system_user,
                seq=seq,
                mentions=tuple(mention_names.split()),
            ),
            True,
        )

    def _sender_name(self, conn: sqlite3.Connection, user_id: int | None) -> str | None:
        """A user's name, cached on the writer thread (names never change; users stay)."""
        if user_id is None:
            return None
        name = self._names.get(user_id)
        if name is None:
            row = conn.execute("SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                return None
            name = self._names[user_id] = row[0]
        return name

    @staticmethod
    def _by_client_id_sync(
        conn: sqlite3.Connection, sender_id: int, client_id: str
    ) -> MessageRecord | None:
        return load_message(conn, "m.sender_id = ? AND m.client_id = ?", (sender_id, client_id))

    async def send_context(
        self, room_id: str, user_id: int, client_id: str
    ) -> tuple[MessageRecord | None, RoomRecord | None, bool]:
        room = self._cached_room(room_id)
        if room is not None and user_id in self._members.get(room_id, ()):
            # the common case answers from memory; a duplicate client_id shows at the insert
            return None, room, True

        def q(conn: sqlite3.Connection) -> tuple[MessageRecord | None, RoomRecord | None, bool]:
            existing = self._by_client_id_sync(conn, user_id, client_id)
            if existing is not None:
                return existing, None, False
            room = self._room_sync(conn, room_id)
            member = room is not None and (
                conn.execute(
                    "SELECT 1 FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
                ).fetchone()
                is not None
            )
            return None, room, member

        return await self._read(q)

    async def message_by_client_id(self, sender_id: int, client_id: str) -> MessageRecord | None:
        return await self._read(lambda conn: self._by_client_id_sync(conn, sender_id, client_id))

    async def get_message(self, room_id: str, message_id: int) -> MessageRecord | None:
        return await self._read(
            lambda conn: load_message(conn, "m.id = ? AND m.room_id = ?", (message_id, room_id))
        )

    async def history(
        self, room_id: str, before: int | None, after: int | None, limit: int
    ) -> tuple[list[MessageRecord], bool]:
        def q(conn: sqlite3.Connection) -> tuple[list[MessageRecord], bool]:
            if after is not None:
                rows = load_messages(
                    conn,
                    "m.room_id = ? AND m.id > ? ORDER BY m.id ASC LIMIT ?",
                    (room_id, after, limit + 1),
                )
                return rows[:limit], len(rows) > limit
            bound = before if before is not None else 2**63 - 1
            rows = load_messages(
                conn,
                "m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?",
                (room_id, bound, limit + 1),
            )
            return list(reversed(rows[:limit])), len(rows) > limit

        return await self._snapshot(q)

    async def media(self, image_id: str) -> MediaBlob | None:
        def q(conn: sqlite3.Connection) -> MediaBlob | None:
            row = conn.execute(
                "SELECT room_id, mime, name, data FROM images WHERE id = ?", (image_id,)
            ).fetchone()
            return None if row is None else MediaBlob(row[0], row[1], row[2], bytes(row[3]))

        return await self._read(q)

    async def message_count(self) -> int:
        return await self._read(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        )
