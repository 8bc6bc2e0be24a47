"""Upload metadata in SQLite (PROTOCOL.md section 17); the bytes are on disk (``uploads``).

An upload row is made when ``POST /api/media`` has durably stored the bytes. A message
claims it inside the transaction that stores the message (``claim_upload_sync``), so an
upload is used at most once, by its uploader only, whatever races. A file message joins
its upload through ``uploads.message_id``. When the message is deleted (a tombstone, or the
row itself when its room closes) a trigger moves the upload to ``doomed_files`` in that
same transaction; the bytes are erased after the commit, and a crash in between is
finished at the next start, so deleted bytes are never served again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from server.storage.base_v2 import UploadRecord, UploadUnavailable
from server.storage.sqlite.engine import SQLiteEngine

# appended to a message SELECT: the file a message uses (LEFT JOIN, so NULLs otherwise)
FILE_COLUMNS = "f.id, f.name, f.size, f.mime"
FILE_JOIN = "LEFT JOIN uploads f ON f.message_id = m.id"


class _Unavailable(sqlite3.IntegrityError, UploadUnavailable):
    """An sqlite3.Error, so the insert batch rolls back just this message."""


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
        raise _Unavailable("the upload is not available")


def _upload_from_row(row: tuple[Any, ...]) -> UploadRecord:
    return UploadRecord(*row)


_UPLOAD_COLUMNS = "id, user_id, name, size, mime, created_ms, message_id, room_id"


class UploadStore(SQLiteEngine):
    """Upload rows (PROTOCOL.md section 17); see the module docstring."""

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

    async def doomed_files(self) -> list[str]:
        return await self._read(
            lambda conn: [r[0] for r in conn.execute("SELECT id FROM doomed_files")]
        )

    async def forget_doomed(self, upload_ids: list[str]) -> None:
        if not upload_ids:
            return

        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM doomed_files WHERE id = ?", [(i,) for i in upload_ids])

        await self._write(tx, durable=False)
