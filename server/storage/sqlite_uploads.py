"""Upload metadata in SQLite (PROTOCOL.md section 17); the bytes are on disk (``uploads``).

An upload row is made when ``POST /api/media`` has durably stored the bytes. A message
claims it inside the transaction that stores the message (``claim_upload_sync``), so an
upload is used at most once, by its uploader only, whatever races. A file message joins
its upload through ``uploads.message_id``; a trigger forgets the row when the message
row goes (a room closing), and the caller then erases the bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from server.storage.base_v2 import FileRecord, FileStorage, UploadRecord

T = TypeVar("T")

UPLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    message_id INTEGER UNIQUE,
    room_id TEXT
);
CREATE INDEX IF NOT EXISTS uploads_unused ON uploads(created_ms) WHERE message_id IS NULL;
CREATE INDEX IF NOT EXISTS uploads_by_user ON uploads(user_id) WHERE message_id IS NULL;
CREATE INDEX IF NOT EXISTS uploads_by_room ON uploads(room_id) WHERE room_id IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS uploads_message_gone AFTER DELETE ON messages
BEGIN
    DELETE FROM uploads WHERE message_id = OLD.id;
END;
"""

# appended to a message SELECT: the file a message uses (LEFT JOIN, so NULLs otherwise)
FILE_COLUMNS = "f.id, f.name, f.size, f.mime"
FILE_JOIN = "LEFT JOIN uploads f ON f.message_id = m.id"


class UploadUnavailable(sqlite3.IntegrityError):
    """The upload is unknown, someone else's, or already used."""


def install_uploads(conn: sqlite3.Connection) -> None:
    """Migration step: the uploads table, its indexes and trigger (inside the caller's tx)."""
    from server.storage.sqlite_search import split_script

    for statement in split_script(UPLOADS_SCHEMA):
        conn.execute(statement)


def file_from_row(row: tuple[Any, ...] | sqlite3.Row, first: int) -> FileRecord | None:
    """The FileRecord from FILE_COLUMNS starting at index ``first`` of ``row``."""
    if row[first] is None:
        return None
    return FileRecord(row[first], row[first + 1], row[first + 2], row[first + 3])


def claim_upload_sync(
    conn: sqlite3.Connection,
    upload_id: str,
    user_id: int,
    message_id: int,
    room_id: str,
    *,
    as_image: bool,
) -> None:
    """Let the message use the upload, or raise UploadUnavailable (the caller rolls back).

    ``as_image``: the bytes were stored as the message's image, so the upload row goes."""
    if as_image:
        cur = conn.execute(
            "DELETE FROM uploads WHERE id = ? AND user_id = ? AND message_id IS NULL",
            (upload_id, user_id),
        )
    else:
        cur = conn.execute(
            "UPDATE uploads SET message_id = ?, room_id = ?"
            " WHERE id = ? AND user_id = ? AND message_id IS NULL",
            (message_id, room_id, upload_id, user_id),
        )
    if cur.rowcount != 1:
        raise UploadUnavailable("the upload is not available")


def _upload_from_row(row: tuple[Any, ...]) -> UploadRecord:
    return UploadRecord(*row)


_UPLOAD_COLUMNS = "id, user_id, name, size, mime, created_ms, message_id, room_id"


class SQLiteUploadsMixin(FileStorage):
    """FileStorage for :class:`server.storage.sqlite.SQLiteStorage` (its ``_read``/``_write``)."""

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _write(self, fn: Callable[[sqlite3.Connection], T], durable: bool = True) -> T:
        raise NotImplementedError

    async def add_upload(self, upload: UploadRecord) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.id,
                    upload.user_id,
                    upload.name,
                    upload.size,
                    upload.mime,
                    upload.created_ms,
                    upload.message_id,
                    upload.room,
                ),
            )

        await self._write(tx)

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        def q(conn: sqlite3.Connection) -> UploadRecord | None:
            row = conn.execute(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
            return None if row is None else _upload_from_row(row)

        return await self._read(q)

    async def unused_uploads(self, user_id: int) -> int:
        def q(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM uploads WHERE user_id = ? AND message_id IS NULL",
                    (user_id,),
                ).fetchone()[0]
            )

        return await self._read(q)

    async def expire_uploads(self, created_before_ms: int) -> list[str]:
        def tx(conn: sqlite3.Connection) -> list[str]:
            return [
                r[0]
                for r in conn.execute(
                    "DELETE FROM uploads WHERE message_id IS NULL AND created_ms < ? RETURNING id",
                    (created_before_ms,),
                ).fetchall()
            ]

        return await self._write(tx, durable=False)

    async def upload_ids(self) -> set[str]:
        return await self._read(lambda conn: {r[0] for r in conn.execute("SELECT id FROM uploads")})

    async def forget_message_files(self, message_ids: list[int]) -> list[str]:
        if not message_ids:
            return []

        def tx(conn: sqlite3.Connection) -> list[str]:
            marks = ",".join("?" * len(message_ids))
            return [
                r[0]
                for r in conn.execute(
                    f"DELETE FROM uploads WHERE message_id IN ({marks}) RETURNING id",
                    message_ids,
                ).fetchall()
            ]

        return await self._write(tx)

    async def room_file_ids(self, room_id: str) -> list[str]:
        def q(conn: sqlite3.Connection) -> list[str]:
            return [
                r[0] for r in conn.execute("SELECT id FROM uploads WHERE room_id = ?", (room_id,))
            ]

        return await self._read(q)

