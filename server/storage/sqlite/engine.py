"""The SQLite engine under every store: connections, threads, transactions, the room cache.

Every write runs on one dedicated writer thread (one connection), so the event loop never
blocks and writes are strictly ordered. Reads use a second, read-only connection on its own
thread: with WAL they see every committed write and never queue behind a commit's fsync.

Rooms and memberships are also kept in memory (loaded at open, updated by this object's own
writes), so ``get_room``, ``is_member`` and ``send_context`` answer without a thread hop.
That is sound because one server process owns the file; a multi-process backend would not
cache this way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from server.storage.base import MessageRecord, NewMessage, RoomRecord, Storage
from server.storage.sqlite.schema import ensure_user_skeletons, migrate

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _private_dir(path: Path) -> None:
    """The data directory, readable by its owner only (messages and password hashes)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if not st.st_mode & 0o077:
        return
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
    shared = st.st_mode & stat.S_ISVTX or st.st_uid != uid or path == Path.home()
    if shared:  # a shared directory (say /tmp, or $HOME) is not ours to lock down
        logger.warning("data directory %s is readable by other users", path)
    else:
        path.chmod(0o700)


def _private_file(path: Path) -> None:
    """Create (or fix) ``path`` and SQLite's -wal/-shm siblings as 0600 before SQLite opens them.

    SQLite gives -wal and -shm the main file's permissions, so creating the main file 0600
    first is what keeps them private too; existing files from older versions are tightened.
    """
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except FileNotFoundError:
            pass


# a message waiting for the next group commit, and the future its sender awaits
PendingInsert = tuple[NewMessage, "asyncio.Future[tuple[MessageRecord, bool]]"]


class SQLiteEngine(Storage):
    """Plumbing shared by the per-concern stores that make up ``SQLiteStorage``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-sqlite")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-sqlite-read")
        self._conn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._pending: list[PendingInsert] = []
        self._flusher: asyncio.Task[None] | None = None
        # in-memory copy of rooms (members count left 0) and member ids, touched on the loop only
        self._rooms: dict[str, RoomRecord] = {}
        self._members: dict[str, set[int]] = {}
        # user id -> name, for new messages' records; touched on the writer thread only
        self._names: dict[int, str] = {}

    # -- threads and transactions -----------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None, "storage is not open"
        return fn(self._conn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._call_read, fn)

    def _call_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._rconn is not None, "storage is not open"
        return fn(self._rconn)

    async def _snapshot(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read whose statements all see one committed state (one read transaction)."""

        def q(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        return await self._read(q)

    async def _write(self, fn: Callable[[sqlite3.Connection], T], durable: bool = True) -> T:
        """Run ``fn`` inside one committed transaction.

        ``durable=False`` commits without an fsync of its own (WAL + synchronous=NORMAL): the
        change survives a process crash, and the next durable commit syncs it with its own.
        """

        def tx(conn: sqlite3.Connection) -> T:
            if not durable:
                conn.execute("PRAGMA synchronous=NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous=FULL")
            return result

        return await self._run(tx)

    # -- open and close ---------------------------------------------------------------------

    async def open(self) -> None:
        _private_dir(self._path.parent)
        _private_file(self._path)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open_sync)
        await loop.run_in_executor(self._reader, self._open_reader_sync)
        self._rooms, self._members = await self._read(self._load_rooms_sync)

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed message survives a power cut too; group commit pays the fsync once
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        # a deleted message's image bytes are overwritten, not left in free pages
        conn.execute("PRAGMA secure_delete=ON")
        try:
            migrate(conn)
            ensure_user_skeletons(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _open_reader_sync(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA busy_timeout=5000")
        self._rconn = conn

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        loop = asyncio.get_running_loop()
        if self._rconn is not None:
            await loop.run_in_executor(self._reader, self._close_reader_sync)
        if self._conn is not None:
            await loop.run_in_executor(self._executor, self._close_sync)
        self._reader.shutdown(wait=True)
        self._executor.shutdown(wait=True)

    def _close_reader_sync(self) -> None:
        assert self._rconn is not None
        self._rconn.close()
        self._rconn = None

    def _close_sync(self) -> None:
        assert self._conn is not None
        self._conn.execute("PRAGMA optimize")
        self._conn.close()
        self._conn = None

    # -- the room cache ---------------------------------------------------------------------

    @classmethod
    def _load_rooms_sync(
        cls, conn: sqlite3.Connection
    ) -> tuple[dict[str, RoomRecord], dict[str, set[int]]]:
        rooms: dict[str, RoomRecord] = {}
        for (room_id,) in conn.execute("SELECT id FROM rooms").fetchall():
            room = cls._room_sync(conn, room_id)
            if room is not None:
                rooms[room_id] = room
        members: dict[str, set[int]] = {room_id: set() for room_id in rooms}
        for room_id, user_id in conn.execute("SELECT room_id, user_id FROM members"):
            members.setdefault(room_id, set()).add(user_id)
        return rooms, members

    @staticmethod
    def _room_sync(conn: sqlite3.Connection, room_id: str) -> RoomRecord | None:
        row = conn.execute(
            "SELECT r.id, r.kind, r.topic, u.name,"
            " (SELECT COUNT(*) FROM members WHERE room_id = r.id)"
            " FROM rooms r LEFT JOIN users u ON u.id = r.owner_id WHERE r.id = ?",
            (room_id,),
        ).fetchone()
        if row is None:
            return None
        dm_users: tuple[str, str] | None = None
        if row[1] == "dm":
            _, a, b = row[0].split(":")
            names = {
                key: name
                for key, name in conn.execute(
                    "SELECT name_key, name FROM users WHERE name_key IN (?, ?)", (a, b)
                )
            }
            dm_users = (names.get(a, a), names.get(b, b))
        return RoomRecord(row[0], row[1], row[2], row[3], row[4], dm_users)

    def _cached_room(self, room_id: str) -> RoomRecord | None:
        room = self._rooms.get(room_id)
        if room is None:
            return None
        count = len(self._members.get(room_id, ()))
        return room if room.members == count else replace(room, members=count)
