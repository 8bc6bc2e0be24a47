"""PgBlobStore on a real PostgreSQL (a throwaway database): chunked writes, ranged reads,
aborts, the crash sweep, and removes of ids already gone.

These tests make only the two tables the store touches (``upload_chunks`` exactly as the
PostgreSQL schema has it, and a one-column ``uploads``), so they test the store alone; the
HTTP tests in ``test_pg_blobs_http.py`` run it inside a PostgreSQL-backed server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from server.storage.base_v2 import FileStorage
from server.storage.postgres.blobs import CHUNK_BYTES, MARKER, PgBlobStore, PgIncoming
from server.storage.uploads import TooLarge
from tests.support.services import throwaway_database

_TABLES = """
CREATE TABLE upload_chunks (upload_id TEXT NOT NULL, n INTEGER NOT NULL, data BYTEA NOT NULL,
                            PRIMARY KEY (upload_id, n));
CREATE TABLE uploads (id TEXT PRIMARY KEY);
"""


class _Rows:
    """The two upload-row calls the store's sweep may use, over the test's ``uploads``."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def upload_ids(self) -> set[str]:
        return {r[0] for r in await self.conn.fetch("SELECT id FROM uploads")}

    async def add(self, upload_id: str) -> None:
        await self.conn.execute("INSERT INTO uploads (id) VALUES ($1)", upload_id)


@pytest.fixture
async def db() -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    async with throwaway_database() as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(_TABLES)
            yield url, conn
        finally:
            await conn.close()


@pytest.fixture
async def store(db: tuple[str, asyncpg.Connection]) -> AsyncIterator[PgBlobStore]:
    s = PgBlobStore(db[0])
    await s.open()
    yield s
    await s.close()


def _storage(conn: asyncpg.Connection) -> Any:
    return _Rows(conn)


async def _put_incoming(store: PgBlobStore, data: bytes, piece: int = 100_000) -> PgIncoming:
    incoming = store.incoming(len(data) + 1)
    for i in range(0, len(data), piece):
        await incoming.write(data[i : i + piece])
    await incoming.commit()
    return incoming


async def _put(store: PgBlobStore, data: bytes, piece: int = 100_000) -> str:
    return (await _put_incoming(store, data, piece)).id


async def _chunk_rows(conn: asyncpg.Connection, upload_id: str) -> list[tuple[int, int]]:
    rows = await conn.fetch(
        "SELECT n, octet_length(data) FROM upload_chunks WHERE upload_id = $1 ORDER BY n",
        upload_id,
    )
    return [(r[0], r[1]) for r in rows]


async def test_bytes_are_written_in_chunks_and_read_back_by_range(
    store: PgBlobStore, db: tuple[str, asyncpg.Connection]
) -> None:
    conn = db[1]
    data = os.urandom(3 * CHUNK_BYTES + 12_345)
    incoming = await _put_incoming(store, data, piece=65_536 + 7)
    upload_id = incoming.id
    rows = await _chunk_rows(conn, upload_id)
    sizes = [(0, CHUNK_BYTES), (1, CHUNK_BYTES), (2, CHUNK_BYTES), (3, 12_345)]
    assert rows[0][0] == MARKER and rows[1:] == sizes
    assert await store.stored_ids() == set()  # not settled yet: still in progress
    await _Rows(conn).add(upload_id)
    await incoming.settled()  # the row exists: the marker goes
    assert [n for n, _ in await _chunk_rows(conn, upload_id)] == [0, 1, 2, 3]

    assert await store.read(upload_id) == data
    for start, stop in [
        (0, 1),
        (0, CHUNK_BYTES),
        (CHUNK_BYTES - 1, CHUNK_BYTES + 1),
        (100, 2 * CHUNK_BYTES + 99),
        (len(data) - 16, len(data)),
        (0, len(data)),
    ]:
        got = b"".join([piece async for piece in store.stream(upload_id, start, stop)])
        assert got == data[start:stop], (start, stop)
    assert await store.stored_ids() == {upload_id}


async def test_an_empty_upload_and_the_byte_limit(store: PgBlobStore) -> None:
    empty = await store.incoming(10).commit()
    assert await store.read(empty) == b""
    incoming = store.incoming(10)
    await incoming.write(b"12345")
    with pytest.raises(TooLarge):
        await incoming.write(b"678901")
    await incoming.abort()


async def test_an_abort_leaves_no_chunk(
    store: PgBlobStore, db: tuple[str, asyncpg.Connection]
) -> None:
    conn = db[1]
    incoming = store.incoming(10 * CHUNK_BYTES)
    for _ in range(5):
        await incoming.write(os.urandom(CHUNK_BYTES // 2 + 1))
    await incoming.abort()
    assert await conn.fetchval("SELECT count(*) FROM upload_chunks") == 0


async def test_the_sweep_erases_what_a_crash_left_but_not_a_live_upload(
    db: tuple[str, asyncpg.Connection],
) -> None:
    url, conn = db
    rows = _Rows(conn)
    storage: FileStorage = _storage(conn)
    # a node that "crashed": it wrote chunks and never committed nor aborted
    crashed = PgBlobStore(url, stale_after_s=0)
    await crashed.open()
    dead = crashed.incoming(10 * CHUNK_BYTES)
    await dead.write(os.urandom(2 * CHUNK_BYTES + 5))
    await dead._drain()
    # a committed upload whose row exists, and one whose row was never stored
    kept = await _put(crashed, b"kept bytes")
    await rows.add(kept)
    orphan = await _put(crashed, b"no row")
    await crashed.close()

    # another node sweeps with the default staleness: the crashed upload's marker is
    # fresh, so (as far as it knows) some node is still receiving it
    other = PgBlobStore(url)
    await other.open()
    try:
        live = other.incoming(10 * CHUNK_BYTES)
        await live.write(os.urandom(CHUNK_BYTES + 1))
        await live._drain()
        assert await other.sweep(storage, startup=True) == 0
        ids = {r[0] for r in await conn.fetch("SELECT DISTINCT upload_id FROM upload_chunks")}
        assert ids == {dead.id, kept, orphan, live.id}

        # once markers are stale, what never got a row goes; the kept file and the live
        # upload (refreshing its marker) stay, and the kept file's leftover marker goes
        await conn.execute(
            "UPDATE upload_chunks SET data = convert_to('0', 'UTF8') WHERE n = $1 AND upload_id"
            " <> $2",
            MARKER,
            live.id,
        )
        assert await other.sweep(storage, startup=False) == 2
        left = await conn.fetch("SELECT upload_id, n FROM upload_chunks ORDER BY 1, 2")
        assert {r[0] for r in left} == {kept, live.id}
        assert (kept, MARKER) not in {(r[0], r[1]) for r in left}
        assert await other.read(kept) == b"kept bytes"
        await live.abort()
    finally:
        await other.close()


async def test_remove_of_ids_already_gone_is_harmless(
    store: PgBlobStore, db: tuple[str, asyncpg.Connection]
) -> None:
    conn = db[1]
    upload_id = await _put(store, os.urandom(CHUNK_BYTES + 1))
    # the database deleted them itself (as a message delete's transaction does)
    await conn.execute("DELETE FROM upload_chunks WHERE upload_id = $1", upload_id)
    await store.remove([upload_id, "not-an-id", "0" * 32])
    await store.remove([])
    with pytest.raises(FileNotFoundError):
        b"".join([p async for p in store.stream(upload_id, 0, 10)])


async def test_a_chunk_erased_mid_read_ends_the_stream(
    store: PgBlobStore, db: tuple[str, asyncpg.Connection]
) -> None:
    conn = db[1]
    data = os.urandom(12 * CHUNK_BYTES)  # three batches of reads
    upload_id = await _put(store, data)
    stream = store.stream(upload_id, 0, len(data))
    first = await anext(stream)
    assert first == data[:CHUNK_BYTES]
    await conn.execute("DELETE FROM upload_chunks WHERE upload_id = $1", upload_id)
    with pytest.raises(FileNotFoundError):
        async for _ in stream:
            pass
