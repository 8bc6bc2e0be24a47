"""Operator commands and the account event feed on SQLite (see ``server.storage.base_admin``).

The admin command runs in its own process beside a running server: both write the same
WAL database (SQLite serialises the writers; ``busy_timeout`` makes the second one wait).
The server learns what the command changed from ``account_events`` only, so every change
here commits its event in the same transaction.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from server.storage.base_admin import (
    AccountEvent,
    AccountEventKind,
    AccountState,
    DeletedAccount,
    UserInfo,
)
from server.storage.sqlite.engine import SQLiteEngine

logger = logging.getLogger(__name__)

_USER_INFO = """
SELECT u.id, u.name, u.created_ms, u.disabled, u.deleted_ms,
       MAX(COALESCE(u.last_seen_ms, 0),
           COALESCE((SELECT MAX(m.ts) FROM messages m WHERE m.sender_id = u.id), 0)),
       (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id AND t.expires_ms > ?)
FROM users u
"""


def _state(disabled: Any, deleted_ms: Any) -> AccountState:
    return "deleted" if deleted_ms is not None else "disabled" if disabled else "active"


def _info(row: Any) -> UserInfo:
    return UserInfo(row[0], row[1], row[2], _state(row[3], row[4]), row[5] or None, row[6])


def _event(conn: sqlite3.Connection, user_id: int, kind: AccountEventKind, ts: int) -> None:
    conn.execute(
        "INSERT INTO account_events (user_id, kind, ts) VALUES (?, ?, ?)", (user_id, kind, ts)
    )


class AdminStore(SQLiteEngine):
    # -- reading -------------------------------------------------------------------------

    async def list_users(self, now_ms: int) -> list[UserInfo]:
        def q(conn: sqlite3.Connection) -> list[UserInfo]:
            rows = conn.execute(_USER_INFO + " ORDER BY u.name_key", (now_ms,)).fetchall()
            return [_info(row) for row in rows]

        return await self._read(q)

    async def user_info(self, name: str, now_ms: int) -> UserInfo | None:
        def q(conn: sqlite3.Connection) -> UserInfo | None:
            row = conn.execute(
                _USER_INFO + " WHERE u.name_key = ?", (now_ms, name.lower())
            ).fetchone()
            return None if row is None else _info(row)

        return await self._read(q)

    async def token_account_state(self, token_hash: str, now_ms: int) -> AccountState | None:
        def q(conn: sqlite3.Connection) -> AccountState | None:
            row = conn.execute(
                "SELECT u.disabled, u.deleted_ms FROM tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = ? AND t.expires_ms > ?",
                (token_hash, now_ms),
            ).fetchone()
            return None if row is None else _state(row[0], row[1])

        return await self._read(q)

    # -- changing accounts ---------------------------------------------------------------

    async def set_disabled(self, user_id: int, disabled: bool, ts: int) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE users SET disabled = ? WHERE id = ? AND disabled != ?"
                " AND deleted_ms IS NULL",
                (int(disabled), user_id, int(disabled)),
            )
            if cur.rowcount and disabled:
                _event(conn, user_id, "disabled", ts)
            return cur.rowcount > 0

        return await self._write(tx)

    async def revoke_tokens(self, user_id: int, ts: int) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            count = conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,)).rowcount
            _event(conn, user_id, "revoked", ts)
            return count

        return await self._write(tx)

    async def reset_password(self, user_id: int, password_hash: str, ts: int) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )
            count = conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,)).rowcount
            _event(conn, user_id, "password", ts)
            return count

        return await self._write(tx)

    async def delete_account(self, user_id: int, heir_id: int | None, ts: int) -> DeletedAccount:
        def tx(conn: sqlite3.Connection) -> DeletedAccount:
            tokens = conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,)).rowcount
            owned = conn.execute(
                "UPDATE rooms SET owner_id = ? WHERE owner_id = ?", (heir_id, user_id)
            ).rowcount
            left = conn.execute("DELETE FROM members WHERE user_id = ?", (user_id,)).rowcount
            # '' is no argon2 hash: no password ever matches it
            conn.execute(
                "UPDATE users SET password_hash = '', disabled = 1, deleted_ms = ? WHERE id = ?",
                (ts, user_id),
            )
            _event(conn, user_id, "deleted", ts)
            return DeletedAccount(left, owned, tokens)

        return await self._write(tx)

    async def add_to_room_quietly(self, room_id: str, user_id: int, ts: int) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room_id,)).fetchone() is None:
                return False
            newest = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?", (room_id,)
            ).fetchone()[0]
            cur = conn.execute(
                "INSERT OR IGNORE INTO members (room_id, user_id, delivered, read)"
                " VALUES (?, ?, ?, ?)",
                (room_id, user_id, newest, newest),
            )
            if cur.rowcount:
                _event(conn, user_id, "joined", ts)
            return cur.rowcount > 0

        added = await self._write(tx)
        if added and room_id in self._rooms:
            self._members.setdefault(room_id, set()).add(user_id)
        return added

    async def note_seen(self, user_id: int, ts: int) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE users SET last_seen_ms = ? WHERE id = ?", (ts, user_id))

        await self._write(tx, durable=False)

    # -- the event feed ------------------------------------------------------------------

    async def latest_account_event(self) -> int:
        def q(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("SELECT COALESCE(MAX(id), 0) FROM account_events").fetchone()[0]
            )

        return await self._read(q)

    async def account_events_after(self, after_id: int, limit: int) -> list[AccountEvent]:
        def q(conn: sqlite3.Connection) -> list[AccountEvent]:
            rows = conn.execute(
                "SELECT id, user_id, kind FROM account_events WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
            return [AccountEvent(row[0], row[1], row[2]) for row in rows]

        return await self._read(q)

    # -- the room cache ------------------------------------------------------------------

    async def invalidate_rooms(self, room_ids: list[str] | None = None) -> None:
        """Reload the cached rooms and memberships another process changed.

        The load runs on the writer thread, so it sees every write this process committed
        before it and none of the later ones, whose cache updates land after this one.
        """
        rooms, members = await self._run(self._load_rooms_sync)
        if room_ids is None:
            self._rooms, self._members = rooms, members
            return
        for room_id in room_ids:
            if room_id in rooms:
                self._rooms[room_id] = rooms[room_id]
                self._members[room_id] = members.get(room_id, set())
            else:
                self._rooms.pop(room_id, None)
                self._members.pop(room_id, None)
