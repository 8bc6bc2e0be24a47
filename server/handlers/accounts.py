"""Accounts: login, registration, tokens, sessions, passwords and the ``session`` payload.

Every password check is admitted in this order, all before the slow argon2 work starts:
the per-address attempt budget, then the (user, address) failure throttle (an exponential
delay, reserved in advance so concurrent guesses cannot all slip through), then the
user-wide failure budget (which, once spent, still lets in addresses that logged in as that
user before), then the bounded argon2 queue. Nobody can lock an account for its owner:
the owner's address and every valid token keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from server import __version__, auth
from server.clientip import client_ip, parse_networks
from server.connections import Connection
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, now_ms
from server.protocol import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    PROTOCOL_VERSION,
    ErrorCode,
    Event,
    is_valid_username,
)
from server.ratelimit import BackoffThrottle, SlidingWindow
from server.storage.base import User
from server.validation import encodable

logger = logging.getLogger(__name__)

# called with a freshly registered user to make them a member of ``general``
JoinGeneral = Callable[[User], Awaitable[Any]]
# a user-wide failure budget this many times the per-address one (spread-out guessing)
_USER_WIDE_FACTOR = 10
# addresses remembered per user as having logged in successfully
_GOOD_ADDRESSES = 16


# why a running session is ended, by the kind of account event (server.storage.base_admin)
_ENDED = {
    "disabled": "Your account was disabled by the server's operator.",
    "deleted": "Your account was deleted by the server's operator.",
    "password": "The server's operator reset your password; sign in with the new one.",
    "revoked": "The server's operator ended your sessions; sign in again.",
}
# polls during which a user's connections are checked again after an event: a sign-in that
# read the account just before the change may register its connection just after the poll
_RECHECK_POLLS = 3


def _wrong() -> ProtocolError:
    return ProtocolError(ErrorCode.UNAUTHORIZED, "Wrong username or password.")


def _disabled() -> ProtocolError:
    return ProtocolError(
        ErrorCode.UNAUTHORIZED, "This account is disabled; ask the server's operator."
    )


def _deleted(name: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.UNAUTHORIZED,
        f"The account {name} was deleted by the server's operator; its name stays reserved.",
    )


def _busy() -> ProtocolError:
    return ProtocolError(ErrorCode.RATE_LIMITED, "The server is busy; try again in a few seconds.")


def check_password(password: object, key: str = "password") -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise bad_request(f"{key} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    return encodable(password, key)


class AccountHandler:
    def __init__(self, ctx: HandlerContext, join_general: JoinGeneral) -> None:
        self.ctx = ctx
        config = ctx.config
        self._join_general = join_general
        self.trusted_proxies = parse_networks(config.trusted_proxies)
        self.hasher = auth.PasswordHasherPool(config.max_pending_password_hashes)
        per_pair = config.max_failed_logins_per_minute
        self.failures = BackoffThrottle(per_pair, 60.0, free=min(3, max(per_pair, 1)))
        self.user_failures = SlidingWindow(per_pair * _USER_WIDE_FACTOR, 60.0)
        self.ip_attempts = SlidingWindow(config.login_attempts_per_ip_per_minute, 60.0)
        self.ip_registrations = SlidingWindow(config.registrations_per_ip_per_hour, 3600.0)
        self._good_addresses: dict[str, list[str]] = {}
        self.operator_ids: set[int] = set()

    # -- start-up and housekeeping ------------------------------------------------------------

    async def start(self) -> None:
        await self.resolve_operators()
        self.ctx.spawn(self._purge_tokens_forever())
        self.ctx.spawn(self._watch_account_events_forever())
        if not self.ctx.config.registration_open:
            self.ctx.spawn(self._prepare_dummy_hash())

    async def _prepare_dummy_hash(self) -> None:
        """Make the dummy hash now, so the first unknown name costs what later ones do."""
        try:
            await self.hasher.verify_dummy("warm-up password")
        except auth.HasherBusy:
            pass

    async def resolve_operators(self) -> None:
        """Operators are users that exist at start, by id: a name registered later is nobody."""
        ids = set()
        for name in self.ctx.config.operators:
            user = await self.ctx.storage.get_user(name) if is_valid_username(name) else None
            if user is None:
                logger.warning("operator %r is not a registered user; ignored", name)
            else:
                ids.add(user.id)
        self.operator_ids = ids

    def is_operator(self, user: User) -> bool:
        return user.id in self.operator_ids

    async def _purge_tokens_forever(self) -> None:
        while True:
            try:
                purged = await self.ctx.storage.purge_expired_tokens(now_ms())
                if purged:
                    logger.info("purged %d expired tokens", purged)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("purging expired tokens failed")
            await asyncio.sleep(self.ctx.config.token_purge_interval_s)

    async def _watch_account_events_forever(self) -> None:
        """End the sessions an operator revoked, on this node, within about a second.

        ``parley-server admin`` writes to the database only; every node polls the newest
        account event id (one cheap query) and acts on what it has not seen, so this works
        on one node and on a cluster, with or without a message bus.
        """
        last: int | None = None
        recheck: dict[int, tuple[int, str]] = {}  # user id -> (polls left, event kind)
        while True:
            try:
                if last is None:
                    last = await self.ctx.storage.latest_account_event()
                else:
                    last = await self._apply_account_events(last, recheck)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading account events failed")
            await asyncio.sleep(self.ctx.config.account_event_poll_s)

    async def _apply_account_events(self, last: int, recheck: dict[int, tuple[int, str]]) -> int:
        storage = self.ctx.storage
        latest = await storage.latest_account_event()
        if latest > last:
            events = await storage.account_events_after(last, 1000)
            if any(e.kind in ("deleted", "joined") for e in events):
                await storage.invalidate_rooms(None)  # memberships changed behind our back
            for event in events:
                if event.kind != "joined":
                    recheck[event.user_id] = (_RECHECK_POLLS, event.kind)
            last = events[-1].id if events else latest
        for user_id, (left, kind) in list(recheck.items()):
            await self._end_revoked_sessions(user_id, kind)
            if left <= 1:
                del recheck[user_id]
            else:
                recheck[user_id] = (left - 1, kind)
        return last

    async def _end_revoked_sessions(self, user_id: int, kind: str) -> None:
        """Disconnect the user's connections whose token no longer signs them in."""
        ctx = self.ctx
        for sid in ctx.connections.sids(user_id):
            conn = ctx.connections.get(sid)
            if conn is None or await ctx.storage.user_for_token(conn.token_hash, now_ms()):
                continue
            logger.info("ending session %s of user %s (%s)", sid, conn.user.name, kind)
            await ctx.sio.emit(Event.NOTICE, {"text": _ENDED[kind], "level": "warning"}, to=sid)
            await ctx.sio.disconnect(sid)

    # -- the session payload ----------------------------------------------------------------

    def limits(self) -> dict[str, int]:
        config = self.ctx.config
        return {
            "max_text_chars": config.max_text_chars,
            "max_image_bytes": config.max_image_bytes,
            "max_file_bytes": config.max_file_bytes,
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
                "features": self.ctx.features.wire(),
                "limits": self.limits(),
            },
        }

    def address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client address for per-address limits (X-Forwarded-For from trusted proxies)."""
        return client_ip(peer, forwarded_for, self.trusted_proxies)

    # -- login and registration -------------------------------------------------------------

    async def login(self, username: object, password: object, ip: str = "unknown") -> User:
        """Log in, or register first when the name is free and registration is open."""
        if not is_valid_username(username):
            raise bad_request("username must be 1 to 32 characters of A-Z a-z 0-9 _ . -")
        assert isinstance(username, str)
        password = check_password(password)
        key = username.lower()
        if not await self.ip_attempts.acquire(ip):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many logins from your address; try again in a minute."
            )
        pair = f"{key}\0{ip}"
        wait_s = await self.failures.reserve(pair)
        if wait_s > 0:
            wait = max(1, round(wait_s))
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"Too many failed logins for this user; try again in {wait} seconds or later.",
            )
        if ip not in self._good_addresses.get(key, ()) and await self.user_failures.is_exceeded(key):
            await self.failures.give_back(pair)
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many failed logins for this user; try again later."
            )
        try:
            user = await self._check(username, password, ip)
        except ProtocolError as exc:
            if exc.code == ErrorCode.UNAUTHORIZED:
                await self.failures.fail(pair)
                self.ctx.metrics.failed_logins_total += 1
                await self.user_failures.add(key)
            else:
                await self.failures.give_back(pair)  # refused before any guess was judged
            raise
        except BaseException:
            await asyncio.shield(self.failures.give_back(pair))
            raise
        await self.failures.clear(pair)
        good = self._good_addresses.setdefault(key, [])
        if ip not in good:
            good.append(ip)
            del good[:-_GOOD_ADDRESSES]
        if len(self._good_addresses) > 100_000:
            self._good_addresses.clear()
        self.ctx.metrics.logins_total += 1
        self._seen(user)
        return user

    async def _check(self, username: str, password: str, ip: str) -> User:
        ctx = self.ctx
        creds = await ctx.storage.get_credentials(username)
        try:
            if creds is None:
                if not ctx.config.registration_open:
                    # as slow as a wrong password, so unknown names cannot be told by timing
                    await self.hasher.verify_dummy(password)
                    raise _wrong()
                user = await self._register(username, password, ip)
                if user is not None:
                    return user
                creds = await ctx.storage.get_credentials(username)  # lost a registration race
                if creds is None:
                    raise bad_request(
                        f"The name {username} is too much like an existing user's; pick another."
                    )
            if creds.state == "deleted":
                raise _deleted(creds.user.name)
            if not await self.hasher.verify(creds.password_hash, password):
                raise _wrong()
            if creds.state == "disabled":  # said only to someone who knows the password
                raise _disabled()
        except auth.HasherBusy:
            raise _busy() from None
        return creds.user

    async def _register(self, username: str, password: str, ip: str) -> User | None:
        ctx = self.ctx
        if await ctx.storage.similar_user_exists(username):
            raise bad_request(
                f"The name {username} is too much like an existing user's; pick another."
            )
        if not await self.ip_registrations.acquire(ip):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many new accounts from your address; try later."
            )
        password_hash = await self.hasher.hash(password)
        user = await ctx.storage.create_user(username, password_hash, now_ms())
        if user is None:
            return None
        logger.info("registered user %s", user.name)
        ctx.metrics.registrations_total += 1
        await self._join_general(user)
        return user

    # -- tokens -----------------------------------------------------------------------------

    async def issue_token(self, user: User) -> str:
        token = auth.new_token()
        expires = now_ms() + self.ctx.config.token_ttl_days * 86_400_000
        await self.ctx.storage.add_token(auth.token_hash(token), user.id, expires)
        return token

    async def user_for_token(self, token: object) -> User:
        if not isinstance(token, str) or not token or len(token) > 512:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "The token is missing or malformed.")
        storage = self.ctx.storage
        hashed = auth.token_hash(token)
        user = await storage.user_for_token(hashed, now_ms())
        if user is None:
            state = await storage.token_account_state(hashed, now_ms())
            if state == "disabled":
                raise _disabled()
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "The token is invalid or expired.")
        return user

    async def authenticate(self, credentials: object, ip: str = "unknown") -> tuple[User, str]:
        """The user and token for a connect ``auth`` dict (login, register or token resume)."""
        if not isinstance(credentials, dict):
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, "Connect with auth {username, password} or {token}."
            )
        if "token" in credentials:
            token = credentials["token"]
            user = await self.user_for_token(token)
            self._seen(user)
            return user, token
        if "username" in credentials or "password" in credentials:
            user = await self.login(credentials.get("username"), credentials.get("password"), ip)
            return user, await self.issue_token(user)
        raise ProtocolError(
            ErrorCode.UNAUTHORIZED, "Connect with auth {username, password} or {token}."
        )

    def _seen(self, user: User) -> None:
        """Note the sign-in for ``admin users list`` without delaying the session."""
        self.ctx.spawn(self._note_seen(user))

    async def _note_seen(self, user: User) -> None:
        try:
            await self.ctx.storage.note_seen(user.id, now_ms())
        except Exception:
            logger.exception("noting the sign-in of %s failed", user.name)

    # -- ending sessions --------------------------------------------------------------------

    async def _disconnect(self, sids: list[str]) -> None:
        for sid in sids:
            await self.ctx.sio.disconnect(sid)

    async def logout(self, conn: Connection, everywhere: bool = False) -> None:
        """Revoke this session's token (or all the user's) and end the other connections on it.

        The calling connection is left for its client to close after the ack.
        """
        ctx = self.ctx
        if everywhere:
            await ctx.storage.delete_user_tokens(conn.user.id)
            logger.info("user %s logged out everywhere", conn.user.name)
            others = [s for s in ctx.connections.sids(conn.user.id) if s != conn.sid]
            ctx.link.revoke(conn.user.id, None, conn.sid)
        else:
            await ctx.storage.delete_token(conn.token_hash)
            others = [
                s
                for s in ctx.connections.sids(conn.user.id)
                if s != conn.sid
                and (c := ctx.connections.get(s))
                and c.token_hash == conn.token_hash
            ]
            ctx.link.revoke(conn.user.id, conn.token_hash, conn.sid)
        await self._disconnect(others)

    async def change_password(self, conn: Connection, old: object, new: object) -> None:
        """Check the old password, store the new one, revoke every other session's token."""
        ctx = self.ctx
        old_password = check_password(old, "old")
        new_password = check_password(new, "new")
        pair = f"{conn.user.name.lower()}\0session:{conn.user.id}"
        if await self.failures.reserve(pair) > 0:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many wrong passwords; try again in a little while."
            )
        try:
            creds = await ctx.storage.get_credentials(conn.user.name)
            if creds is None or creds.user.id != conn.user.id:
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "This account no longer exists.")
            if not await self.hasher.verify(creds.password_hash, old_password):
                self.ctx.metrics.failed_logins_total += 1
                await self.failures.fail(pair)
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "The old password is wrong.")
            await self.failures.clear(pair)
            new_hash = await self.hasher.hash(new_password)
        except auth.HasherBusy:
            await self.failures.give_back(pair)
            raise _busy() from None
        await ctx.storage.set_password(conn.user.id, new_hash)
        revoked = await ctx.storage.delete_user_tokens(conn.user.id, keep=conn.token_hash)
        logger.info(
            "user %s changed their password (%d other sessions ended)", conn.user.name, revoked
        )
        ctx.link.revoke(conn.user.id, None, conn.sid)
        await self._disconnect([s for s in ctx.connections.sids(conn.user.id) if s != conn.sid])
