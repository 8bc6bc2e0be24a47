"""Accounts: login, registration, tokens and the ``session`` payload."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from server import __version__, auth
from server.connections import Connection
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, now_ms
from server.protocol import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    PROTOCOL_VERSION,
    ErrorCode,
    is_valid_username,
)
from server.ratelimit import SlidingWindow
from server.storage.base import User

logger = logging.getLogger(__name__)

# called with a freshly registered user to make them a member of ``general``
JoinGeneral = Callable[[User], Awaitable[Any]]


class AccountHandler:
    def __init__(self, ctx: HandlerContext, join_general: JoinGeneral) -> None:
        self.ctx = ctx
        self._join_general = join_general
        self.login_limiter = SlidingWindow(ctx.config.max_failed_logins_per_minute, 60.0)

    def limits(self) -> dict[str, int]:
        config = self.ctx.config
        return {
            "max_text_chars": config.max_text_chars,
            "max_image_bytes": config.max_image_bytes,
            "history_limit": config.history_limit,
        }

    def session_payload(self, user: User, token: str) -> dict[str, Any]:
        return {
            "user": {"name": user.name},
            "token": token,
            "server": {
                "name": self.ctx.config.server_name,
                "version": __version__,
                "protocol": PROTOCOL_VERSION,
                "limits": self.limits(),
            },
        }

    async def login(self, username: object, password: object) -> User:
        """Log in, or register first when the name is free and registration is open."""
        ctx = self.ctx
        if not is_valid_username(username):
            raise bad_request("username must be 1 to 32 characters of A-Z a-z 0-9 _ . -")
        if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise bad_request(f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
        assert isinstance(username, str)
        key = username.lower()
        if self.login_limiter.exceeded(key):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many failed logins for this user; try again later."
            )
        creds = await ctx.storage.get_credentials(username)
        if creds is None:
            if not ctx.config.registration_open:
                self._login_failed(key)
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "Wrong username or password.")
            password_hash = await auth.hash_password(password)
            user = await ctx.storage.create_user(username, password_hash, now_ms())
            if user is not None:
                logger.info("registered user %s", user.name)
                ctx.metrics.registrations_total += 1
                await self._join_general(user)
                ctx.metrics.logins_total += 1
                return user
            creds = await ctx.storage.get_credentials(username)  # lost a registration race
            if creds is None:
                raise ProtocolError(ErrorCode.INTERNAL, "Registration failed.")
        if not await auth.verify_password(creds.password_hash, password):
            self._login_failed(key)
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "Wrong username or password.")
        ctx.metrics.logins_total += 1
        return creds.user

    def _login_failed(self, key: str) -> None:
        self.ctx.metrics.failed_logins_total += 1
        self.login_limiter.record(key)

    async def issue_token(self, user: User) -> str:
        token = auth.new_token()
        expires = now_ms() + self.ctx.config.token_ttl_days * 86_400_000
        await self.ctx.storage.add_token(auth.token_hash(token), user.id, expires)
        return token

    async def user_for_token(self, token: object) -> User:
        if not isinstance(token, str) or not token or len(token) > 512:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "The token is missing or malformed.")
        user = await self.ctx.storage.user_for_token(auth.token_hash(token), now_ms())
        if user is None:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "The token is invalid or expired.")
        return user

    async def authenticate(self, credentials: object) -> tuple[User, str]:
        """The user and token for a connect ``auth`` dict (login, register or token resume)."""
        if not isinstance(credentials, dict):
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, "Connect with auth {username, password} or {token}."
            )
        if "token" in credentials:
            token = credentials["token"]
            return await self.user_for_token(token), token
        if "username" in credentials or "password" in credentials:
            user = await self.login(credentials.get("username"), credentials.get("password"))
            return user, await self.issue_token(user)
        raise ProtocolError(
            ErrorCode.UNAUTHORIZED, "Connect with auth {username, password} or {token}."
        )

    async def logout(self, conn: Connection) -> None:
        await self.ctx.storage.delete_token(conn.token_hash)
