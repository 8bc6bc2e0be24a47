"""What only the PostgreSQL backend has to show: several nodes on one database.

Each "node" here is its own ``PostgresStorage`` with its own pool on one throwaway
database, racing the others: migrations at start, resends on one client_id, writers of
one room, and file bytes going in the deleting transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.storage.base import MessageRecord, Storage
from server.storage.base_v2 import UploadRecord
from tests.storage.conftest import open_postgres, open_sqlite
from tests.storage.helpers import new, room, send, user
from tests.storage.test_messages import image


@pytest.fixture
async def nodes(pg_url: str) -> AsyncIterator[list[Storage]]:
    """Three storages (three pools) on one database, opened at the same time."""
    opened = await asyncio.gather(*(open_postgres(pg_url) for _ in range(3)))
    try:
        yield list(opened)
    finally:
        for s in opened:
            await s.close()


async def test_three_nodes_migrate_one_fresh_database_at_once(
    nodes: list[Storage], pg_url: str
) -> None:
    import asyncpg

    from server.storage.postgres import schema_version

    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT version FROM parley_schema") == schema_version()
        assert await conn.fetchval("SELECT COUNT(*) FROM parley_schema") == 1
    finally:
        await conn.close()
    # and they share one database: what one writes, the others read at once (no cache)
    a, b, c = nodes
    alice = await user(a, "alice")
    await room(b, "r", [alice])
    await c.set_topic("r", "from c")
    got = await a.get_room("r")
    assert got is not None and got.topic == "from c" and got.members == 1
    bob = await user(c, "bob")
    await b.add_member("r", bob.id)
    assert await a.is_member("r", bob.id)
    await c.remove_member("r", bob.id)
    assert not await b.is_member("r", bob.id)


async def test_a_database_newer_than_the_server_is_refused(pg_url: str) -> None:
    import asyncpg

    from server.storage.postgres import migrate

    await migrate(pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE parley_schema SET version = version + 1")
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="newer than this server"):
        await migrate(pg_url)


async def test_racing_resends_on_two_nodes_are_stored_once(nodes: list[Storage]) -> None:
    a, b, _ = nodes
    alice = await user(a, "alice")
    await room(a, "r", [alice])
    await room(a, "r2", [alice])
    for attempt in range(5):
        cid = f"c{attempt}"
        # the same message arrives on both nodes at once (and once for another room)
        racers = [a, b] * 4
        results = await asyncio.gather(
            *(s.insert_message(new("r", alice, "hello", cid)) for s in racers),
            b.insert_message(new("r2", alice, "hello", cid)),
        )
        assert sum(created for _, created in results) == 1
        assert len({m.id for m, _ in results}) == 1
    seqs = await a.room_seqs()
    assert seqs["r"] + seqs["r2"] == 5
    page, _ = await b.history("r", None, None, 50)
    assert [m.seq for m in page] == list(range(1, len(page) + 1))


async def test_a_reader_following_ids_misses_nothing_while_nodes_write(
    nodes: list[Storage],
) -> None:
    """Section 10: within a room, ids and seqs increase in commit order, so a client that
    pages with ``after`` (or ``since``) can never skip a message that commits late."""
    a, b, c = nodes
    writers = [await user(a, f"w{i}") for i in range(4)]
    await room(a, "r", writers)
    seen: list[MessageRecord] = []
    done = asyncio.Event()

    async def write(node: Storage, who: int) -> None:
        for i in range(25):
            m = await send(node, "r", writers[who], f"{who}-{i}", cid=f"{who}-{i}")
            if i % 5 == 0:
                await node.set_reaction("r", m.id, writers[who].id, "👍", True, 20)

    async def follow() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page, _ = await c.history("r", None, after, 100)
            seen.extend(page)
            if page:
                after = page[-1].id
            elif finished:
                return
            else:
                await asyncio.sleep(0)

    follower = asyncio.create_task(follow())
    await asyncio.gather(*(write(a if w % 2 else b, w) for w in range(4)))
    done.set()
    await follower
    everything, _ = await c.history("r", None, None, 1000)
    assert [m.id for m in seen] == [m.id for m in everything]
    assert len(everything) == 100
    changes = await c.changes("r", 0, 1000)
    assert [m.seq for m in changes.messages] == sorted({m.seq for m in changes.messages})
    assert changes.seq == 120  # 100 messages and 20 reactions, densely numbered


async def _chunks(storage: Storage, upload_id: str) -> int:
    async with storage._conn() as conn:  # type: ignore[attr-defined]
        return int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM upload_chunks WHERE upload_id = $1", upload_id
            )
        )


async def _put_upload(storage: Storage, upload_id: str, user_id: int, created_ms: int = 1) -> None:
    """What the blob store does: the bytes as chunks, then the upload row."""
    async with storage._tx() as conn:  # type: ignore[attr-defined]
        await conn.executemany(
            "INSERT INTO upload_chunks (upload_id, n, data) VALUES ($1, $2, $3)",
            [(upload_id, n, bytes([n]) * 100) for n in range(3)],
        )
    await storage.add_upload(
        UploadRecord(upload_id, user_id, "f.bin", 300, "application/octet-stream", created_ms)
    )


async def test_ending_an_upload_deletes_its_chunks_in_the_same_transaction(pg_url: str) -> None:
    s = await open_postgres(pg_url)
    try:
        alice = await user(s, "alice")
        await room(s, "r", [alice])
        await room(s, "closing", [alice])
        for uid in ("deleted", "closed", "expired", "as-image", "kept", "unused"):
            await _put_upload(s, uid, alice.id, created_ms=1 if uid == "expired" else 10**13)
        deleted, _ = await s.insert_message(
            new("r", alice, "", "1", kind="file", upload_id="deleted")
        )
        await s.insert_message(new("closing", alice, "", "2", kind="file", upload_id="closed"))
        await s.insert_message(new("r", alice, "", "3", kind="file", upload_id="kept"))
        await s.insert_message(
            new("r", alice, "", "4", kind="image", image=image("as-image"), upload_id="as-image")
        )
        assert await _chunks(s, "as-image") == 0  # its bytes live in images now
        await s.delete_message("r", deleted.id, alice.id, moderator=False)
        await s.delete_room("closing")
        assert await s.expire_uploads(2) == ["expired"]
        for gone in ("deleted", "closed", "expired"):
            assert await _chunks(s, gone) == 0, gone
        assert await _chunks(s, "kept") == 3 and await _chunks(s, "unused") == 3
        # still listed for a store that keeps bytes outside the database
        assert sorted(await s.doomed_files()) == ["closed", "deleted"]
    finally:
        await s.close()


async def test_tables_mirror_sqlite_column_for_column(pg_url: str, tmp_path: Path) -> None:
    """The migrate tool copies SQLite tables into PostgreSQL one by one, by column name."""
    lite = await open_sqlite(tmp_path)
    await lite.close()
    conn = sqlite3.connect(tmp_path / "parley.sqlite3")
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'message_search%'"
            )
        ]
        sqlite_columns = {
            t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables
        }
    finally:
        conn.close()
    pg = await open_postgres(pg_url)
    try:
        async with pg._conn() as c:  # type: ignore[attr-defined]
            pg_columns = {
                t: [
                    r[0]
                    for r in await c.fetch(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_name = $1 ORDER BY ordinal_position",
                        t,
                    )
                ]
                for t in tables
            }
            chunks = await c.fetch(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                " WHERE table_name = 'upload_chunks' ORDER BY ordinal_position"
            )
    finally:
        await pg.close()
    extra_on_pg = {"users": ["disabled"]}  # until SQLite has it too
    for table, columns in sqlite_columns.items():
        assert pg_columns[table][: len(columns)] == columns, table
        assert pg_columns[table][len(columns) :] in ([], extra_on_pg.get(table)), table
    assert [tuple(r) for r in chunks] == [
        ("upload_id", "text", "NO"),
        ("n", "integer", "NO"),
        ("data", "bytea", "NO"),
    ]


def test_the_embedded_server_never_imports_asyncpg() -> None:
    code = (
        "import sys, server.app, server.cli, server.storage.sqlite;"
        "sys.exit(1 if 'asyncpg' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
