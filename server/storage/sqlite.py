"""SQLite backend: WAL, one dedicated worker thread, group commit for message inserts.

Every write runs on one dedicated writer thread (one connection), so the event loop never
blocks and writes are strictly ordered. Reads use a second, read-only connection on its own
thread: with WAL they see every committed write and never queue behind a commit's fsync. Concurrent ``insert_message`` calls are
batched into one transaction (one fsync) while the previous batch commits; each caller's
future resolves only after its batch committed, so an ack never precedes durability.

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
from typing import Any, TypeVar

from server.names import username_skeleton
from server.storage.base import (
    ImageRecord,
    MediaBlob,
    MemberPosition,
    MessageRecord,
    NewMessage,
    PositionChange,
    PositionState,
    RoomKind,
    RoomRecord,
    RoomView,
    SenderSpan,
    Storage,
    User,
    UserCredentials,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA_V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    owner_id INTEGER REFERENCES users(id)
);
CREATE TABLE members (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    delivered INTEGER NOT NULL DEFAULT 0,
    read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id);
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    mime TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    thumb BLOB NOT NULL,
    thumb_mime TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX images_by_room ON images(room_id);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    sender_id INTEGER,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    client_id TEXT,
    image_id TEXT,
    system_event TEXT,
    system_user TEXT,
    UNIQUE (sender_id, client_id)
);
CREATE INDEX messages_by_room ON messages(room_id, id);
"""

_MESSAGE_COLUMNS = """
    m.id, m.room_id, m.sender_id, u.name, m.ts, m.kind, m.text, m.client_id,
    m.system_event, m.system_user,
    i.id, i.mime, i.name, i.size, i.width, i.height, i.thumb, i.thumb_mime
"""
_MESSAGE_FROM = """
    FROM messages m
    LEFT JOIN users u ON u.id = m.sender_id
    LEFT JOIN images i ON i.id = m.image_id
"""


def _message_from_row(row: sqlite3.Row | tuple[Any, ...]) -> MessageRecord:
    image = None
    if row[10] is not None:
        image = ImageRecord(
            id=row[10],
            mime=row[11],
            name=row[12],
            size=row[13],
            width=row[14],
            height=row[15],
            thumb=bytes(row[16]),
            thumb_mime=row[17],
        )
    return MessageRecord(
        id=row[0],
        room=row[1],
        sender_id=row[2],
        sender=row[3],
        ts=row[4],
        kind=row[5],
        text=row[6],
        client_id=row[7],
        image=image,
        system_event=row[8],
        system_user=row[9],
    )


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


def _ensure_user_skeletons(conn: sqlite3.Connection) -> None:
    """Add ``users.skeleton`` (look-alike key, unique) to a database that lacks it.

    Existing users get theirs computed; when two existing names already look alike, the
    later one keeps NULL (it stays usable, but still blocks no one and is blocked by none).
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    if "skeleton" in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE users ADD COLUMN skeleton TEXT")
        seen: set[str] = set()
        for user_id, name in conn.execute("SELECT id, name FROM users ORDER BY id").fetchall():
            key = username_skeleton(name)
            if key in seen:
                logger.warning("existing user %s looks like an earlier user", name)
                continue
            seen.add(key)
            conn.execute("UPDATE users SET skeleton = ? WHERE id = ?", (key, user_id))
        conn.execute("CREATE UNIQUE INDEX users_by_skeleton ON users(skeleton)")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteStorage(Storage):
    """The default backend: one file ``parley.sqlite3`` in the data directory."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-sqlite")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-sqlite-read")
        self._conn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._pending: list[tuple[NewMessage, asyncio.Future[tuple[MessageRecord, bool]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # in-memory copy of rooms (members count left 0) and member ids, touched on the loop only
        self._rooms: dict[str, RoomRecord] = {}
        self._members: dict[str, set[int]] = {}

    # -- plumbing ---------------------------------------------------------------------------

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

    async def open(self) -> None:
        _private_dir(self._path.parent)
        _private_file(self._path)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open_sync)
        await loop.run_in_executor(self._reader, self._open_reader_sync)
        self._rooms, self._members = await self._read(self._load_rooms_sync)

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

    def _cached_room(self, room_id: str) -> RoomRecord | None:
        room = self._rooms.get(room_id)
        if room is None:
            return None
        count = len(self._members.get(room_id, ()))
        return room if room.members == count else replace(room, members=count)

    def _open_reader_sync(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA busy_timeout=5000")
        self._rconn = conn

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed message survives a power cut too; group commit pays the fsync once
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(
                f"database schema {version} is newer than this server ({SCHEMA_VERSION})"
            )
        if version < 1:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA_V1.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
            logger.info("created database schema version %d", SCHEMA_VERSION)
        _ensure_user_skeletons(conn)
        self._conn = conn

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

    # -- users and tokens -------------------------------------------------------------------

    async def get_credentials(self, name: str) -> UserCredentials | None:
        def q(conn: sqlite3.Connection) -> UserCredentials | None:
            row = conn.execute(
                "SELECT id, name, password_hash FROM users WHERE name_key = ?", (name.lower(),)
            ).fetchone()
            return None if row is None else UserCredentials(User(row[0], row[1]), row[2])

        return await self._read(q)

    async def create_user(self, name: str, password_hash: str, ts: int) -> User | None:
        def tx(conn: sqlite3.Connection) -> User | None:
            # no conflict target: a taken name and a look-alike name (skeleton) both refuse
            cur = conn.execute(
                "INSERT INTO users (name, name_key, skeleton, password_hash, created_ms)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (name, name.lower(), username_skeleton(name), password_hash, ts),
            )
            if cur.rowcount == 0:
                return None
            return User(int(cur.lastrowid or 0), name)

        return await self._write(tx)

    async def get_user(self, name: str) -> User | None:
        def q(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                "SELECT id, name FROM users WHERE name_key = ?", (name.lower(),)
            ).fetchone()
            return None if row is None else User(row[0], row[1])

        return await self._read(q)

    async def add_token(self, token_hash: str, user_id: int, expires_ms: int) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tokens (token_hash, user_id, expires_ms) VALUES (?, ?, ?)",
                (token_hash, user_id, expires_ms),
            )

        await self._write(tx)

    async def user_for_token(self, token_hash: str, now_ms: int) -> User | None:
        def q(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = ? AND t.expires_ms > ?",
                (token_hash, now_ms),
            ).fetchone()
            return None if row is None else User(row[0], row[1])

        return await self._read(q)

    async def delete_token(self, token_hash: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tokens WHERE token_hash = ?", (token_hash,))

        await self._write(tx)

    async def delete_user_tokens(self, user_id: int, keep: str | None = None) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM tokens WHERE user_id = ? AND token_hash IS NOT ?", (user_id, keep)
            )
            return cur.rowcount

        return await self._write(tx)

    async def set_password(self, user_id: int, password_hash: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )

        await self._write(tx)

    async def purge_expired_tokens(self, now_ms: int) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM tokens WHERE expires_ms <= ?", (now_ms,)).rowcount

        return await self._write(tx, durable=False)

    async def similar_user_exists(self, name: str) -> bool:
        def q(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM users WHERE skeleton = ?", (username_skeleton(name),)
            ).fetchone()
            return row is not None

        return await self._read(q)

    # -- rooms and membership ---------------------------------------------------------------

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

    async def get_room(self, room_id: str) -> RoomRecord | None:
        return self._cached_room(room_id)

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

    @staticmethod
    def _last_message_sync(conn: sqlite3.Connection, room_id: str) -> MessageRecord | None:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} {_MESSAGE_FROM} WHERE m.room_id = ?"
            " ORDER BY m.id DESC LIMIT 1",
            (room_id,),
        ).fetchone()
        return None if row is None else _message_from_row(row)

    def _view_sync(self, conn: sqlite3.Connection, room_id: str, user_id: int) -> RoomView | None:
        room = self._room_sync(conn, room_id)
        if room is None:
            return None
        pos = conn.execute(
            "SELECT read FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
        ).fetchone()
        unread = 0
        if pos is not None:
            unread = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE room_id = ? AND id > ?"
                " AND (sender_id IS NULL OR sender_id != ?)",
                (room_id, pos[0], user_id),
            ).fetchone()[0]
        return RoomView(room, pos is not None, unread, self._last_message_sync(conn, room_id))

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

        return await self._read(q)

    async def room_view(self, room_id: str, user_id: int) -> RoomView | None:
        return await self._read(lambda conn: self._view_sync(conn, room_id, user_id))

    async def member_views(self, room_id: str, user_ids: list[int]) -> dict[int, RoomView]:
        wanted = set(user_ids)

        def q(conn: sqlite3.Connection) -> dict[int, RoomView]:
            room = self._room_sync(conn, room_id)
            if room is None or not wanted:
                return {}
            last = self._last_message_sync(conn, room_id)
            rows = conn.execute(
                "SELECT mb.user_id, COUNT(m.id) FROM members mb"
                " LEFT JOIN messages m ON m.room_id = mb.room_id AND m.id > mb.read"
                " AND (m.sender_id IS NULL OR m.sender_id != mb.user_id)"
                " WHERE mb.room_id = ? GROUP BY mb.user_id",
                (room_id,),
            ).fetchall()
            return {
                uid: RoomView(room, True, unread, last) for uid, unread in rows if uid in wanted
            }

        return await self._read(q)

    # -- messages ---------------------------------------------------------------------------

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
        self,
        conn: sqlite3.Connection,
        batch: list[tuple[NewMessage, asyncio.Future[tuple[MessageRecord, bool]]]],
    ) -> list[tuple[MessageRecord, bool] | Exception]:
        # one transaction for the batch; a savepoint per message so one failure stays its own
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

    def _insert_one(self, conn: sqlite3.Connection, msg: NewMessage) -> tuple[MessageRecord, bool]:
        img = msg.image
        # UNIQUE(sender_id, client_id) reports a retry; only then is the stored row looked up
        cur = conn.execute(
            "INSERT INTO messages (room_id, sender_id, ts, kind, text, client_id, image_id,"
            " system_event, system_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sender_id, client_id) DO NOTHING",
            (
                msg.room,
                msg.sender_id,
                msg.ts,
                msg.kind,
                msg.text,
                msg.client_id,
                None if img is None else img.id,
                msg.system_event,
                msg.system_user,
            ),
        )
        if cur.rowcount == 0:
            assert msg.sender_id is not None and msg.client_id is not None
            existing = self._by_client_id_sync(conn, msg.sender_id, msg.client_id)
            assert existing is not None
            return existing, False
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
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} {_MESSAGE_FROM} WHERE m.id = ?", (cur.lastrowid,)
        ).fetchone()
        return _message_from_row(row), True

    @staticmethod
    def _by_client_id_sync(
        conn: sqlite3.Connection, sender_id: int, client_id: str
    ) -> MessageRecord | None:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} {_MESSAGE_FROM} WHERE m.sender_id = ? AND m.client_id = ?",
            (sender_id, client_id),
        ).fetchone()
        return None if row is None else _message_from_row(row)

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

    async def history(
        self, room_id: str, before: int | None, after: int | None, limit: int
    ) -> tuple[list[MessageRecord], bool]:
        def q(conn: sqlite3.Connection) -> tuple[list[MessageRecord], bool]:
            if after is not None:
                rows = conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS} {_MESSAGE_FROM} WHERE m.room_id = ? AND m.id > ?"
                    " ORDER BY m.id ASC LIMIT ?",
                    (room_id, after, limit + 1),
                ).fetchall()
                more = len(rows) > limit
                return [_message_from_row(r) for r in rows[:limit]], more
            bound = before if before is not None else 2**63 - 1
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} {_MESSAGE_FROM} WHERE m.room_id = ? AND m.id < ?"
                " ORDER BY m.id DESC LIMIT ?",
                (room_id, bound, limit + 1),
            ).fetchall()
            more = len(rows) > limit
            return [_message_from_row(r) for r in reversed(rows[:limit])], more

        return await self._read(q)

    async def media(self, image_id: str) -> MediaBlob | None:
        def q(conn: sqlite3.Connection) -> MediaBlob | None:
            row = conn.execute(
                "SELECT room_id, mime, name, data FROM images WHERE id = ?", (image_id,)
            ).fetchone()
            return None if row is None else MediaBlob(row[0], row[1], row[2], bytes(row[3]))

        return await self._read(q)

    # -- receipts ---------------------------------------------------------------------------

    async def advance_position(
        self, room_id: str, user_id: int, state: PositionState, message_id: int
    ) -> PositionChange | None:
        def tx(conn: sqlite3.Connection) -> PositionChange | None:
            row = conn.execute(
                "SELECT delivered, read FROM members WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            ).fetchone()
            if row is None:
                return None
            old_delivered, old_read = row
            newest = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?", (room_id,)
            ).fetchone()[0]
            target = min(message_id, newest)
            new_delivered = max(old_delivered, target)
            new_read = old_read
            if state == "read":
                new_read = max(old_read, target)
                new_delivered = max(new_delivered, new_read)
            if (new_delivered, new_read) != (old_delivered, old_read):
                conn.execute(
                    "UPDATE members SET delivered = ?, read = ? WHERE room_id = ? AND user_id = ?",
                    (new_delivered, new_read, room_id, user_id),
                )
            return PositionChange(old_delivered, new_delivered, old_read, new_read)

        return await self._write(tx, durable=False)

    async def senders_in_span(
        self, room_id: str, after: int, up_to: int, exclude_user_id: int
    ) -> list[SenderSpan]:
        def q(conn: sqlite3.Connection) -> list[SenderSpan]:
            return [
                SenderSpan(*row)
                for row in conn.execute(
                    "SELECT m.sender_id, u.name, MAX(m.id) FROM messages m"
                    " JOIN users u ON u.id = m.sender_id"
                    " WHERE m.room_id = ? AND m.id > ? AND m.id <= ? AND m.sender_id != ?"
                    " GROUP BY m.sender_id",
                    (room_id, after, up_to, exclude_user_id),
                )
            ]

        return await self._read(q)

    async def count_reached(
        self, room_id: str, state: PositionState, message_id: int, exclude_user_id: int
    ) -> int:
        column = "read" if state == "read" else "delivered"

        def q(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    f"SELECT COUNT(*) FROM members WHERE room_id = ? AND user_id != ?"
                    f" AND {column} >= ?",
                    (room_id, exclude_user_id, message_id),
                ).fetchone()[0]
            )

        return await self._read(q)

    async def message_count(self) -> int:
        return await self._read(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        )
