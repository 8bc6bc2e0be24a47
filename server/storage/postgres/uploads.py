"""Upload metadata in PostgreSQL (PROTOCOL.md section 17); the bytes are in ``upload_chunks``.

The blob store (``server.storage.uploads``) writes an upload's bytes as chunks, then the
row here. A message claims an upload inside the transaction that stores it
(``messages.claim_upload``). Everything that ends an upload here (the message deleted,
its room closed, the upload expired unused, the upload stored as an image) deletes its
chunks in the same transaction, so no node ever serves deleted bytes.

``doomed_files`` keeps the SQLite contract: a deleted message's or closed room's upload ids
are listed there in the deleting transaction, as on SQLite, so a file store that keeps
bytes outside the database (the disk store) still erases them; with the bytes in
``upload_chunks`` they are gone already and erasing the listed ids finds nothing to do.
``forget_doomed`` also drops any chunks of the ids it is given.
"""

from __future__ import annotations

from typing import Any

from server.storage.base_v2 import UploadRecord
from server.storage.postgres.engine import PostgresEngine

_UPLOAD_COLUMNS = "id, user_id, name, size, mime, created_ms, message_id, room_id"


def _upload_from_row(row: Any) -> UploadRecord:
    return UploadRecord(row[0], row[1], row[2], int(row[3]), row[4], int(row[5]), row[6], row[7])


class UploadStore(PostgresEngine):
    """Upload rows (PROTOCOL.md section 17); see the module docstring."""

    async def add_upload(self, upload: UploadRecord) -> None:
        async with self._tx() as conn:
            await conn.execute(
                f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                upload.id,
                upload.user_id,
                upload.name,
                upload.size,
                upload.mime,
                upload.created_ms,
                upload.message_id,
                upload.room,
            )

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = $1", upload_id
            )
        return None if row is None else _upload_from_row(row)

    async def unused_uploads(self, user_id: int) -> int:
        async with self._conn() as conn:
            return int(
                await conn.fetchval(
                    "SELECT COUNT(*) FROM uploads WHERE user_id = $1 AND message_id IS NULL",
                    user_id,
                )
            )

    async def expire_uploads(self, created_before_ms: int) -> list[str]:
        async with self._tx(durable=False) as conn:
            rows = await conn.fetch(
                "DELETE FROM uploads WHERE message_id IS NULL AND created_ms < $1 RETURNING id",
                created_before_ms,
            )
            ids = [r[0] for r in rows]
            if ids:
                await conn.execute(
                    "DELETE FROM upload_chunks WHERE upload_id = ANY($1::text[])", ids
                )
        return ids

    async def upload_ids(self) -> set[str]:
        async with self._conn() as conn:
            return {r[0] for r in await conn.fetch("SELECT id FROM uploads")}

    async def doomed_files(self) -> list[str]:
        async with self._conn() as conn:
            return [r[0] for r in await conn.fetch("SELECT id FROM doomed_files")]

    async def forget_doomed(self, upload_ids: list[str]) -> None:
        if not upload_ids:
            return
        async with self._tx(durable=False) as conn:
            # bytes of these, if any were left, go with their names
            await conn.execute(
                "DELETE FROM upload_chunks WHERE upload_id = ANY($1::text[])", upload_ids
            )
            await conn.execute("DELETE FROM doomed_files WHERE id = ANY($1::text[])", upload_ids)
