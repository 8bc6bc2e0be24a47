"""Passwords (argon2, hashed in a thread) and session tokens (only their sha256 is stored).

argon2 is deliberately slow and memory hungry, so the two hashing threads are the scarcest
thing on the server. Work for them is admitted through a bounded queue: once
``max_pending`` hashes are running or waiting, a new one is refused at once
(:class:`HasherBusy`) instead of queueing behind a login storm, so a burst of logins can
never starve the server for minutes (token resumes never hash anything).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parley-argon2")
_hasher = PasswordHasher()
_DUMMY_PASSWORD = "parley-dummy-password-for-timing"


class HasherBusy(Exception):
    """Too many password hashes are already queued; the caller answers rate_limited."""


class PasswordHasherPool:
    """Admission control in front of the argon2 threads (one per server instance)."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max(1, max_pending)
        self.pending = 0
        self.verifications = 0  # password checks run (real and dummy), for tests and metrics
        self._dummy_hash: str | None = None

    async def _submit(self, fn: object, *args: str) -> object:
        if self.pending >= self.max_pending:
            raise HasherBusy
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(_executor, fn, *args)  # type: ignore[arg-type]
        finally:
            self.pending -= 1

    async def hash(self, password: str) -> str:
        result = await self._submit(_hasher.hash, password)
        assert isinstance(result, str)
        return result

    async def verify(self, password_hash: str, password: str) -> bool:
        ok = bool(await self._submit(_verify_sync, password_hash, password))
        self.verifications += 1
        return ok

    async def verify_dummy(self, password: str) -> None:
        """Spend what checking a real password costs, so unknown names cannot be timed."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(_DUMMY_PASSWORD)
        await self.verify(self._dummy_hash, password)


async def hash_password(password: str) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, _hasher.hash, password)


def _verify_sync(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, _verify_sync, password_hash, password)


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
