"""Users and tokens."""

from __future__ import annotations

import sqlite3

from server.names import username_skeleton
from server.storage.base import AccountState, User, UserCredentials
from server.storage.sqlite.engine import SQLiteEngine


class AccountStore(SQLiteEngine):
    async def get_credentials(self, name: str) -> UserCredentials | None:
        def q(conn: sqlite3.Connection) -> UserCredentials | None:
            row = conn.execute(
                "SELECT id, name, password_hash, disabled, deleted_ms FROM users"
                " WHERE name_key = ?",
                (name.lower(),),
            ).fetchone()
            if row is None:
                return None
            state: AccountState = (
                "deleted" if row[4] is not None else "disabled" if row[3] else "active"
            )
            return UserCredentials(User(row[0], row[1]), row[2], state)

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
                "SELECT id, name FROM users WHERE name_key = ? AND deleted_ms IS NULL",
                (name.lower(),),
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
                " WHERE t.token_hash = ? AND t.expires_ms > ? AND u.disabled = 0",
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
