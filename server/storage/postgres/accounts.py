"""Users and tokens."""

from __future__ import annotations

from server.names import username_skeleton
from server.storage.base import AccountState, User, UserCredentials
from server.storage.postgres.engine import PostgresEngine


class AccountStore(PostgresEngine):
    async def get_credentials(self, name: str) -> UserCredentials | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT id, name, password_hash, disabled, deleted_ms FROM users"
                " WHERE name_key = $1",
                name.lower(),
            )
        if row is None:
            return None
        state: AccountState = (
            "deleted" if row[4] is not None else "disabled" if row[3] else "active"
        )
        return UserCredentials(User(row[0], row[1]), row[2], state)

    async def create_user(self, name: str, password_hash: str, ts: int) -> User | None:
        async with self._tx() as conn:
            # no conflict target: a taken name and a look-alike name (skeleton) both refuse,
            # also when two nodes register the same name at once
            user_id = await conn.fetchval(
                "INSERT INTO users (name, name_key, skeleton, password_hash, created_ms)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
                name,
                name.lower(),
                username_skeleton(name),
                password_hash,
                ts,
            )
        return None if user_id is None else User(int(user_id), name)

    async def get_user(self, name: str) -> User | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT id, name FROM users WHERE name_key = $1 AND deleted_ms IS NULL",
                name.lower(),
            )
        return None if row is None else User(row[0], row[1])

    async def add_token(self, token_hash: str, user_id: int, expires_ms: int) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO tokens (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)",
                token_hash,
                user_id,
                expires_ms,
            )

    async def user_for_token(self, token_hash: str, now_ms: int) -> User | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = $1 AND t.expires_ms > $2 AND u.disabled = 0",
                token_hash,
                now_ms,
            )
        return None if row is None else User(row[0], row[1])

    async def delete_token(self, token_hash: str) -> None:
        async with self._tx() as conn:
            await conn.execute("DELETE FROM tokens WHERE token_hash = $1", token_hash)

    async def delete_user_tokens(self, user_id: int, keep: str | None = None) -> int:
        async with self._tx() as conn:
            gone = await conn.fetch(
                "DELETE FROM tokens WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2"
                " RETURNING 1",
                user_id,
                keep,
            )
        return len(gone)

    async def set_password(self, user_id: int, password_hash: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2", password_hash, user_id
            )

    async def purge_expired_tokens(self, now_ms: int) -> int:
        async with self._tx(durable=False) as conn:
            gone = await conn.fetch("DELETE FROM tokens WHERE expires_ms <= $1 RETURNING 1", now_ms)
        return len(gone)

    async def similar_user_exists(self, name: str) -> bool:
        async with self._conn() as conn:
            found = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM users WHERE skeleton = $1)", username_skeleton(name)
            )
        return bool(found)
