"""Uploaded files' bytes in PostgreSQL, chunked, so any node of a cluster serves any file.

The bytes live in ``upload_chunks (upload_id, n, data)`` (created by the PostgreSQL schema):
chunk ``n`` holds bytes ``[n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES)`` as written, each chunk
inserted as it arrives, so an upload is never whole in memory and a download (with or
without ``Range``) reads only the chunks it needs, a few per query. The store has its own
small pool, apart from the storage's, so big transfers never take the connections that
chat messages need.

An upload in progress also has a *marker* row, ``n = -1``, whose data is PostgreSQL's clock
(epoch milliseconds, as text) when the upload last wrote. The marker goes once the
``uploads`` row exists (:meth:`PgIncoming.settled`). Chunks are served only through an
``uploads`` row, so an upload that never committed is invisible; the sweep (at start and
with the periodic expiry) erases chunks that have no ``uploads`` row and no marker fresher
than ``stale_after_s``, which a crash, a dropped connection or a failed abort leaves. The
marker keeps the sweep of one node away from an upload another node is still receiving.

Chunk inserts commit asynchronously (``synchronous_commit = off``): ``commit`` ends with a
synchronous transaction, and PostgreSQL flushes the WAL in order, so every chunk before it
is durable once ``commit`` returns. PostgreSQL deletes chunks itself, in the transaction
that deletes a message, closes a room or expires an upload; :meth:`PgBlobStore.remove` is
then a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import asyncpg

from server.storage.uploads import BlobStore, IncomingBlob, is_upload_id, new_upload_id

if TYPE_CHECKING:
    from server.storage.base_v2 import FileStorage

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
MARKER = -1
# a marker not refreshed for this long belongs to an upload no node is receiving any more
# (a node drops an upload after 60 s without bytes)
STALE_AFTER_S = 600.0
# how often a long upload refreshes its marker
_MARKER_REFRESH_S = 5.0
_POOL_SIZE = 8
# chunks fetched per query when reading (1 MiB)
_READ_BATCH = 4
# chunk inserts of one upload in flight at once
_WRITE_DEPTH = 2

_PG_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
_TOUCH = (
    "INSERT INTO upload_chunks (upload_id, n, data)"
    f" VALUES ($1, {MARKER}, convert_to({_PG_NOW_MS}::text, 'UTF8'))"
    " ON CONFLICT (upload_id, n) DO UPDATE SET data = EXCLUDED.data"
)
_PUT = "INSERT INTO upload_chunks (upload_id, n, data) VALUES ($1, $2, $3)"
_PUT_AND_TOUCH = f"WITH touch AS ({_TOUCH}) {_PUT}"
_LAYOUT = (
    "SELECT n, octet_length(data) AS size FROM upload_chunks"
    " WHERE upload_id = $1 AND n >= 0 ORDER BY n"
)
_BATCH = (
    "SELECT n, data FROM upload_chunks WHERE upload_id = $1 AND n >= $2 AND n <= $3 ORDER BY n"
)
# chunks of uploads no row refers to and no live upload is writing; then markers of
# uploads whose row exists (their ``settled`` was cut short)
_SWEEP = f"""
WITH gone AS (
    DELETE FROM upload_chunks c
    WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.id = c.upload_id)
      AND NOT EXISTS (
        SELECT 1 FROM upload_chunks m
        WHERE m.upload_id = c.upload_id AND m.n = {MARKER}
          AND convert_from(m.data, 'UTF8')::bigint > {_PG_NOW_MS} - $1::bigint)
    RETURNING c.upload_id
)
SELECT count(DISTINCT upload_id) FROM gone
"""
_SWEEP_MARKERS = f"""
DELETE FROM upload_chunks c
WHERE c.n = {MARKER} AND EXISTS (SELECT 1 FROM uploads u WHERE u.id = c.upload_id)
"""


class PgBlobStore(BlobStore):
    """Files chunked in PostgreSQL's ``upload_chunks``; see the module docstring.

    It keeps its own small pool (``dsn``), or uses ``pool`` when given one."""

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: asyncpg.Pool | None = None,
        stale_after_s: float = STALE_AFTER_S,
        pool_size: int = _POOL_SIZE,
    ) -> None:
        if dsn is None and pool is None:
            raise ValueError("PgBlobStore needs a dsn or a pool")
        self.dsn = dsn
        self._pool = pool
        self._own_pool = pool is None
        self.stale_after_s = stale_after_s
        self.pool_size = pool_size

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PgBlobStore is not open")
        return self._pool

    async def open(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                # chunk inserts; commit() flushes them with one synchronous transaction
                server_settings={"synchronous_commit": "off"},
            )

    async def close(self) -> None:
        if self._pool is not None and self._own_pool:
            pool, self._pool = self._pool, None
            await pool.close()

    def incoming(self, max_bytes: int) -> PgIncoming:
        return PgIncoming(self, max_bytes)

    async def remove(self, upload_ids: list[str]) -> None:
        ids = [i for i in upload_ids if is_upload_id(i)]
        if ids:
            await self.pool.execute(
                "DELETE FROM upload_chunks WHERE upload_id = ANY($1::text[])", ids
            )

    async def stored_ids(self) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT upload_id FROM upload_chunks c WHERE n >= 0 AND NOT EXISTS"
            f" (SELECT 1 FROM upload_chunks m WHERE m.upload_id = c.upload_id AND m.n = {MARKER})"
        )
        return {r[0] for r in rows}

    async def sweep(self, storage: FileStorage, *, startup: bool) -> int:
        async with self.pool.acquire() as conn:
            swept = int(await conn.fetchval(_SWEEP, int(self.stale_after_s * 1000)))
            await conn.execute(_SWEEP_MARKERS)
        return swept

    async def _layout(self, upload_id: str) -> list[int]:
        """Sizes of the file's chunks in order; FileNotFoundError when it has a gap."""
        rows = await self.pool.fetch(_LAYOUT, upload_id)
        if any(row["n"] != i for i, row in enumerate(rows)):
            raise FileNotFoundError(upload_id)
        return [int(row["size"]) for row in rows]

    async def size(self, upload_id: str) -> int:
        return sum(await self._layout(upload_id))

    async def read(self, upload_id: str) -> bytes:
        if not is_upload_id(upload_id):
            raise FileNotFoundError(upload_id)
        data = bytearray()
        async for piece in self.stream(upload_id, 0, await self.size(upload_id)):
            data += piece
        return bytes(data)

    async def _batch(self, upload_id: str, first: int, last: int) -> list[bytes]:
        rows = await self.pool.fetch(_BATCH, upload_id, first, last)
        if [row["n"] for row in rows] != list(range(first, last + 1)):
            raise FileNotFoundError(upload_id)  # erased while it was being read
        return [row["data"] for row in rows]

    async def stream(self, upload_id: str, start: int, stop: int) -> AsyncGenerator[bytes, None]:
        """Only the chunks that overlap ``[start, stop)``, read a few at a time, the next
        few while the current ones are sent: a slow reader holds at most two batches
        (2 MiB) and no connection."""
        if not is_upload_id(upload_id):
            raise FileNotFoundError(upload_id)
        if stop <= start:
            return
        plan: list[tuple[int, int, int]] = []  # (n, offset in chunk, length)
        base = 0
        for n, size in enumerate(await self._layout(upload_id)):
            lo, hi = max(start, base), min(stop, base + size)
            if lo < hi:
                plan.append((n, lo - base, hi - lo))
            base += size
            if base >= stop:
                break
        if base < stop:
            raise FileNotFoundError(upload_id)
        batches = [plan[i : i + _READ_BATCH] for i in range(0, len(plan), _READ_BATCH)]

        def fetch(batch: list[tuple[int, int, int]]) -> asyncio.Task[list[bytes]]:
            return asyncio.ensure_future(self._batch(upload_id, batch[0][0], batch[-1][0]))

        ahead = fetch(batches[0])
        try:
            for i, batch in enumerate(batches):
                chunks = await ahead
                if i + 1 < len(batches):
                    ahead = fetch(batches[i + 1])
                for (_, offset, length), data in zip(batch, chunks, strict=True):
                    yield data if length == len(data) else data[offset : offset + length]
        finally:
            if not ahead.done():
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)


class PgIncoming(IncomingBlob):
    """One upload written chunk by chunk into ``upload_chunks`` under its final id; up to
    ``_WRITE_DEPTH`` chunk inserts may be in flight (on as many connections) while the
    next chunk arrives, so memory stays at a few chunks."""

    def __init__(self, store: PgBlobStore, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self.store = store
        self.id = new_upload_id()
        self._buffer = bytearray()
        self._n = 0
        self._in_flight: deque[asyncio.Task[None]] = deque()
        self._touched = float("-inf")

    async def _write(self, chunk: bytes) -> None:
        self._buffer += chunk
        while len(self._buffer) >= CHUNK_BYTES:
            data = bytes(self._buffer[:CHUNK_BYTES])
            del self._buffer[:CHUNK_BYTES]
            await self._put(data)

    async def _put(self, data: bytes) -> None:
        while len(self._in_flight) >= _WRITE_DEPTH:
            await self._in_flight.popleft()
        n, self._n = self._n, self._n + 1
        # the first insert makes the marker; a long upload refreshes it now and then
        touch = time.monotonic() - self._touched >= _MARKER_REFRESH_S
        if touch:
            self._touched = time.monotonic()
        self._in_flight.append(asyncio.ensure_future(self._insert(n, data, touch)))

    async def _insert(self, n: int, data: bytes, touch: bool) -> None:
        await self.store.pool.execute(_PUT_AND_TOUCH if touch else _PUT, self.id, n, data)

    async def _drain(self) -> None:
        while self._in_flight:
            await self._in_flight.popleft()

    async def commit(self) -> str:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await self._put(data)
        await self._drain()
        async with self.store.pool.acquire() as conn, conn.transaction():
            # synchronous: once this commits, every chunk before it is on disk too
            await conn.execute("SET LOCAL synchronous_commit TO on")
            await conn.execute(_TOUCH, self.id)
        return self.id

    async def settled(self) -> None:
        await self.store.pool.execute(
            f"DELETE FROM upload_chunks WHERE upload_id = $1 AND n = {MARKER}", self.id
        )

    async def abort(self) -> None:
        self._buffer = bytearray()
        # let inserts in flight finish (a cancelled one might still commit after the
        # delete below), then delete every chunk and the marker
        pending, self._in_flight = list(self._in_flight), deque()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.store.remove([self.id])
        except (OSError, asyncpg.PostgresError) as exc:
            # the marker stops being refreshed: the sweep erases the chunks later
            logger.warning("could not drop an aborted upload's chunks yet: %s", exc)
