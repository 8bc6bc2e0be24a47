"""The PostgreSQL engine under every store: the asyncpg pool, transactions, shared reads.

Several server nodes share one database, so nothing mutable is cached here, with one
exception: the room and membership a ``message:send`` checks (``send_context``, the one read
on every send) are remembered per (room, user) once found, and forgotten when this node
changes the room (its own writes, below) or another node says it changed it (the bus's
``ENTER`` / ``LEAVE`` / ``ROOMS`` envelopes call ``invalidate_rooms``). While the bus is down
nothing is answered from that memory (``guard_room_cache``), and a reconnect forgets it all.
Every write is one transaction on a pooled connection; its coroutine returns only
after COMMIT, and ``synchronous_commit`` is on for the pool, so an ack never precedes
durability. Writes that may be lost in a crash without harm (receipt positions, purges)
turn it off for their own transaction only (``durable=False``).

This package is the only place that imports asyncpg: the desktop's embedded server (and
any SQLite node) never loads it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.storage.base import RoomRecord, Storage
from server.storage.postgres.schema import migrate

logger = logging.getLogger(__name__)

# waiting this long for a free pooled connection means the database is in trouble: the
# caller gets an error (an ``internal`` ack) instead of a hang. Generous: on an overloaded
# machine a burst (150 logins at once) queues for seconds, and should be slow, not fail.
# A database that is down fails at once (connection refused), one that hangs at
# COMMAND_TIMEOUT_S.
ACQUIRE_TIMEOUT_S = 30.0
# no single statement may run longer (a search has its own, shorter budget)
COMMAND_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0

# a room as RoomRecord wants it; $1 is an array of room ids. A DM's id is "dm:a:b" (name
# keys), and both users' display names come with it.
ROOM_COLUMNS = """
    r.id, r.kind, r.topic, o.name,
    (SELECT COUNT(*) FROM members c WHERE c.room_id = r.id),
    da.name, db.name
"""
ROOM_FROM = """
    FROM rooms r
    LEFT JOIN users o ON o.id = r.owner_id
    LEFT JOIN users da ON r.kind = 'dm' AND da.name_key = split_part(r.id, ':', 2)
    LEFT JOIN users db ON r.kind = 'dm' AND db.name_key = split_part(r.id, ':', 3)
"""


# the planner's figures for the messages table and its size in pages now
_ESTIMATE = """
SELECT c.reltuples, c.relpages,
       pg_relation_size(c.oid) / current_setting('block_size')::bigint AS pages
FROM pg_class c WHERE c.oid = to_regclass('messages')
"""


def room_record(row: Sequence[Any]) -> RoomRecord:
    """A RoomRecord from the first seven columns of ``ROOM_COLUMNS``."""
    dm_users: tuple[str, str] | None = None
    if row[1] == "dm":
        _, a, b = str(row[0]).split(":")
        dm_users = (row[5] or a, row[6] or b)
    return RoomRecord(row[0], row[1], row[2], row[3], int(row[4]), dm_users)


def _always() -> bool:
    return True


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release, as a no-op: no store leaves session state behind (every
    SET is SET LOCAL, no LISTEN, no session locks), so asyncpg's default reset query would
    only cost a round trip per use."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    """The pool's figures for ``/metrics``."""

    size: int
    in_use: int
    max_size: int


class PostgresEngine(Storage):
    """Plumbing shared by the per-concern stores that make up ``PostgresStorage``."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        # send_context's memory: room -> (its record, users known to be members); a
        # generation so a read that started before a change never stores what it read
        self._send_rooms: dict[str, tuple[RoomRecord, set[int]]] = {}
        self._rooms_gen = 0
        self._room_cache_ok: Callable[[], bool] = _always

    # -- the send path's room memory ---------------------------------------------------------

    def guard_room_cache(self, ok: Callable[[], bool]) -> None:
        """Answer sends from memory only while ``ok()`` (a cluster node: its bus is up, so
        the other nodes' changes reach ``invalidate_rooms``)."""
        self._room_cache_ok = ok

    async def invalidate_rooms(self, room_ids: list[str] | None = None) -> None:
        self._forget_rooms(room_ids)

    def _forget_rooms(self, room_ids: list[str] | None = None) -> None:
        self._rooms_gen += 1
        if room_ids is None:
            self._send_rooms.clear()
        else:
            for room_id in room_ids:
                self._send_rooms.pop(room_id, None)

    def _remembered_member(self, room_id: str, user_id: int) -> RoomRecord | None:
        if not self._room_cache_ok():
            return None
        known = self._send_rooms.get(room_id)
        if known is None or user_id not in known[1]:
            return None
        return known[0]

    def _remember_member(self, gen: int, room: RoomRecord, user_id: int) -> None:
        if gen != self._rooms_gen or not self._room_cache_ok():
            return  # the room changed while it was read, or changes may be missed now
        known = self._send_rooms.get(room.id)
        if known is None or known[0] != room:
            known = (room, set())
            self._send_rooms[room.id] = known
        known[1].add(user_id)

    # -- open and close ---------------------------------------------------------------------

    async def open(self) -> None:
        await migrate(self._dsn, timeout=CONNECT_TIMEOUT_S)
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            reset=_keep_session,
            server_settings={
                "synchronous_commit": "on",  # the ack follows a durable commit
                "application_name": "parley-server",
                "jit": "off",  # every query here is short; JIT compiling costs more
            },
        )
        logger.info("PostgreSQL pool open (%d..%d connections)", self._min_size, self._max_size)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), 10.0)
        except TimeoutError:
            logger.warning("PostgreSQL pool did not close in time; terminating it")
            pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "storage is not open"
        return self._pool

    # -- connections and transactions -------------------------------------------------------

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for reads that need no snapshot (autocommit statements)."""
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            yield conn

    @asynccontextmanager
    async def _tx(self, durable: bool = True) -> AsyncIterator[asyncpg.Connection]:
        """One read-committed write transaction, committed when the block ends.

        ``durable=False``: the commit does not wait for its WAL flush (the change survives a
        process crash of the server, not necessarily a crash of PostgreSQL's machine)."""
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            async with conn.transaction():
                if not durable:
                    await conn.execute("SET LOCAL synchronous_commit = off")
                yield conn

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A read whose statements all see one committed state."""
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                yield conn

    # -- health -----------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise unless the database answers a query now (``/healthz``)."""
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1", timeout=2.0)

    def pool_stats(self) -> PoolStats:
        pool = self._pool
        if pool is None:
            return PoolStats(0, 0, self._max_size)
        size = pool.get_size()
        return PoolStats(size, size - pool.get_idle_size(), self._max_size)

    async def message_count_estimate(self) -> int:
        """Messages stored, as the planner estimates them, for ``/metrics``: ``COUNT(*)``
        reads the whole table on every scrape, which a large database cannot afford.

        ``pg_class.reltuples`` (kept by ANALYZE and autovacuum) scaled by the table's pages
        now against its pages then, as the planner does; a table never analysed, or empty
        when it was, is small or about to be analysed (autovacuum acts after 50 new rows),
        so it is counted."""
        async with self._conn() as conn:
            row = await conn.fetchrow(_ESTIMATE, timeout=2.0)
            if row is None or row["reltuples"] < 0 or row["relpages"] == 0:
                return int(await conn.fetchval("SELECT COUNT(*) FROM messages"))
            per_page = float(row["reltuples"]) / int(row["relpages"])
            return round(per_page * int(row["pages"]))

    # -- rooms, shared by several stores ----------------------------------------------------

    @staticmethod
    async def _room(conn: asyncpg.Connection, room_id: str) -> RoomRecord | None:
        row = await conn.fetchrow(f"SELECT {ROOM_COLUMNS} {ROOM_FROM} WHERE r.id = $1", room_id)
        return None if row is None else room_record(row)
