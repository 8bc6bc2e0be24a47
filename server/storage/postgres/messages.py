"""Storing and reading messages: inserts (group commit), history pages, media bytes.

Per-room order (PROTOCOL.md section 10) by design: an insert locks its room's row, takes
the room's ``seq`` one up and draws the message id from the ``messages`` identity sequence,
all in one transaction, so within a room ids and seqs are drawn, and become visible, in
commit order, however many nodes write. Concurrent inserts share that transaction (group
commit, one WAL flush per batch): see ``insert_batch``.

``(sender, client_id)`` idempotency is the table's unique constraint: a second insert of
the same pair (a resend, possibly on another node at the same moment) does nothing
(``ON CONFLICT DO NOTHING`` waits for the first to commit) and the stored message comes
back with ``created=False``; the room's counter is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.storage.base import MediaBlob, MessageRecord, NewMessage, RoomRecord
from server.storage.postgres.engine import (
    ACQUIRE_TIMEOUT_S,
    ROOM_COLUMNS,
    ROOM_FROM,
    PostgresEngine,
    room_record,
)
from server.storage.postgres.insert_batch import (
    BATCH_MAX,
    InsertResult,
    Pending,
    RoomGone,
    by_client_id,
    claim_upload,
    insert_fast,
    insert_isolated,
)
from server.storage.postgres.rows import load_message, load_messages

logger = logging.getLogger(__name__)

__all__ = ["MessageStore", "RoomGone", "claim_upload"]


class MessageStore(PostgresEngine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # inserts waiting for the next batch, and the task committing batches (one at a time)
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert_message(self, message: NewMessage) -> tuple[MessageRecord, bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InsertResult] = loop.create_future()
        self._pending.append((message, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_pending())
        # a caller that gives up does not cancel its neighbours' batch
        return await asyncio.shield(future)

    async def _flush_pending(self) -> None:
        """Commit what is queued, a batch at a time, until nothing is left."""
        while self._pending:
            batch = self._pending[:BATCH_MAX]
            del self._pending[:BATCH_MAX]
            try:
                results = await self._insert_batch(batch)
            except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
                logger.warning("message batch of %d failed: %r", len(batch), exc)
                results = [exc] * len(batch)
            except BaseException:
                # cancelled (the loop is closing): nobody may wait forever
                for _, fut in batch + self._pending:
                    if not fut.done():
                        fut.set_exception(RuntimeError("message batch interrupted"))
                self._pending = []
                raise
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    async def _insert_batch(self, batch: list[Pending]) -> list[InsertResult | Exception]:
        try:
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                return list(await insert_fast(conn, batch))
        except Exception as exc:  # noqa: BLE001 - redone one by one below, where it is reported
            logger.debug("batch of %d redone with savepoints: %r", len(batch), exc)
        # a fresh connection: the fast path's may be the reason it failed (then this fails
        # too, and the whole batch with it: the database is unreachable)
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            return await insert_isolated(conn, batch)

    async def send_context(
        self, room_id: str, user_id: int, client_id: str
    ) -> tuple[MessageRecord | None, RoomRecord | None, bool]:
        room = self._remembered_member(room_id, user_id)
        if room is not None:
            # a member a moment ago and nothing changed since (see the engine's docstring);
            # a duplicate client_id shows at the insert
            return None, room, True
        gen = self._rooms_gen
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
                assert room is not None
                self._remember_member(gen, room, user_id)
                return None, room, True
            existing = await by_client_id(conn, user_id, client_id)
            if existing is not None:
                return existing, None, False
            return None, room, member

    async def message_by_client_id(self, sender_id: int, client_id: str) -> MessageRecord | None:
        async with self._conn() as conn:
            return await by_client_id(conn, sender_id, client_id)

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
