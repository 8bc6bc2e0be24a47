"""Operator commands and the account event feed on PostgreSQL (``server.storage.base_admin``).

Every node of a cluster polls ``account_events`` (``SELECT max(id)``, an index-only look at
the primary key) once a second; each change here commits its event in its own
transaction, so no node can see the change without the event or the event without it.
The tables come from :mod:`server.storage.postgres.schema_admin`.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from server.storage.base_admin import (
    AccountEvent,
    AccountEventKind,
    AccountState,
    DeletedAccount,
    UserInfo,
)
from server.storage.postgres.engine import PostgresEngine

logger = logging.getLogger(__name__)

_USER_INFO = """
SELECT u.id, u.name, u.created_ms, u.disabled, u.deleted_ms,
       GREATEST(COALESCE(u.last_seen_ms, 0),
                COALESCE((SELECT MAX(m.ts) FROM messages m WHERE m.sender_id = u.id), 0)),
       (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id AND t.expires_ms > $1)
FROM users u
"""


def _state(disabled: Any, deleted_ms: Any) -> AccountState:
    return "deleted" if deleted_ms is not None else "disabled" if disabled else "active"


def _info(row: Any) -> UserInfo:
    return UserInfo(
        int(row[0]), row[1], int(row[2]), _state(row[3], row[4]), int(row[5]) or None, int(row[6])
    )


async def _event(conn: asyncpg.Connection, user_id: int, kind: AccountEventKind, ts: int) -> None:
    """Append an event. The table lock (held to the commit; readers are not blocked) makes
    ids commit in id order, so a node that saw id n never misses a later-committing n - 1."""
    await conn.execute("LOCK TABLE account_events IN EXCLUSIVE MODE")
    await conn.execute(
        "INSERT INTO account_events (user_id, kind, ts) VALUES ($1, $2, $3)", user_id, kind, ts
    )


class AdminStore(PostgresEngine):
    # -- reading -------------------------------------------------------------------------

    async def list_users(self, now_ms: int) -> list[UserInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch(_USER_INFO + " ORDER BY u.name_key", now_ms)
        return [_info(row) for row in rows]

    async def user_info(self, name: str, now_ms: int) -> UserInfo | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(_USER_INFO + " WHERE u.name_key = $2", now_ms, name.lower())
        return None if row is None else _info(row)

    async def token_account_state(self, token_hash: str, now_ms: int) -> AccountState | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT u.disabled, u.deleted_ms FROM tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = $1 AND t.expires_ms > $2",
                token_hash,
                now_ms,
            )
        return None if row is None else _state(row[0], row[1])

    # -- changing accounts ---------------------------------------------------------------

    async def set_disabled(self, user_id: int, disabled: bool, ts: int) -> bool:
        async with self._tx() as conn:
            changed = await conn.fetchval(
                "UPDATE users SET disabled = $1 WHERE id = $2 AND disabled != $1"
                " AND deleted_ms IS NULL RETURNING true",
                int(disabled),
                user_id,
            )
            if changed and disabled:
                await _event(conn, user_id, "disabled", ts)
        return bool(changed)

    async def revoke_tokens(self, user_id: int, ts: int) -> int:
        async with self._tx() as conn:
            gone = await conn.fetch("DELETE FROM tokens WHERE user_id = $1 RETURNING 1", user_id)
            await _event(conn, user_id, "revoked", ts)
        return len(gone)

    async def reset_password(self, user_id: int, password_hash: str, ts: int) -> int:
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2", password_hash, user_id
            )
            gone = await conn.fetch("DELETE FROM tokens WHERE user_id = $1 RETURNING 1", user_id)
            await _event(conn, user_id, "password", ts)
        return len(gone)

    async def delete_account(self, user_id: int, heir_id: int | None, ts: int) -> DeletedAccount:
        try:
            async with self._tx() as conn:
                # the user's row first: a sign-in racing this waits for the commit, then fails
                await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
                tokens = await conn.fetch(
                    "DELETE FROM tokens WHERE user_id = $1 RETURNING 1", user_id
                )
                owned = await conn.fetch(
                    "UPDATE rooms SET owner_id = $1 WHERE owner_id = $2 RETURNING 1",
                    heir_id,
                    user_id,
                )
                left = await conn.fetch(
                    "DELETE FROM members WHERE user_id = $1 RETURNING 1", user_id
                )
                # '' is no argon2 hash: no password ever matches it
                await conn.execute(
                    "UPDATE users SET password_hash = '', disabled = 1, deleted_ms = $1 WHERE id = $2",
                    ts,
                    user_id,
                )
                await _event(conn, user_id, "deleted", ts)
            return DeletedAccount(len(left), len(owned), len(tokens))
        finally:
            self._forget_rooms(None)

    async def add_to_room_quietly(self, room_id: str, user_id: int, ts: int) -> bool:
        try:
            async with self._tx() as conn:
                added = await conn.fetchval(
                    "INSERT INTO members (room_id, user_id, delivered, read)"
                    " SELECT r.id, $2, n.n, n.n FROM rooms r,"
                    " (SELECT COALESCE(MAX(id), 0) AS n FROM messages WHERE room_id = $1) AS n"
                    " WHERE r.id = $1 ON CONFLICT DO NOTHING RETURNING true",
                    room_id,
                    user_id,
                )
                if added:
                    await _event(conn, user_id, "joined", ts)
            return bool(added)
        finally:
            self._forget_rooms([room_id])

    async def note_seen(self, user_id: int, ts: int) -> None:
        async with self._tx(durable=False) as conn:
            await conn.execute("UPDATE users SET last_seen_ms = $1 WHERE id = $2", ts, user_id)

    # -- the event feed ------------------------------------------------------------------

    async def latest_account_event(self) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM account_events"))

    async def account_events_after(self, after_id: int, limit: int) -> list[AccountEvent]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT id, user_id, kind FROM account_events WHERE id > $1 ORDER BY id LIMIT $2",
                after_id,
                limit,
            )
        return [AccountEvent(int(r[0]), int(r[1]), r[2]) for r in rows]
