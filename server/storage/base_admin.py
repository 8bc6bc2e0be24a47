"""The storage interface for operators (``parley-server admin``) and for account events.

An admin command talks to the database only, often while servers run on it. So every
change that running servers must act on (a disabled account, revoked tokens, a deleted
account, a membership added behind their back) also appends a row to ``account_events``
in the same transaction; each server polls the newest id once a second
(:meth:`AdminStorage.latest_account_event`) and acts on the rows it has not seen, which
works on one SQLite node and on every node of a cluster, with or without a message bus.

Kept apart from :mod:`server.storage.base`; ``Storage`` inherits this interface, so every
backend implements it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

AccountState = Literal["active", "disabled", "deleted"]
# what an account event asks running servers to do:
#   disabled / revoked / password / deleted: end the user's live sessions (with that reason);
#   deleted and joined also change memberships, so cached rooms are reloaded
AccountEventKind = Literal["disabled", "revoked", "password", "deleted", "joined"]


@dataclass(frozen=True, slots=True)
class UserInfo:
    """One account as ``admin users list`` shows it."""

    id: int
    name: str
    created_ms: int
    state: AccountState
    # the newer of the last sign-in or token resume and the last message sent; None if never
    last_seen_ms: int | None
    tokens: int  # unexpired sessions


@dataclass(frozen=True, slots=True)
class AccountEvent:
    id: int
    user_id: int
    kind: AccountEventKind


@dataclass(frozen=True, slots=True)
class DeletedAccount:
    """What ``delete_account`` did."""

    rooms_left: int  # memberships removed (DMs included)
    rooms_transferred: int  # rooms whose ownership moved (to the heir, or to nobody)
    tokens: int  # sessions revoked


class AdminStorage(abc.ABC):
    # -- reading -------------------------------------------------------------------------

    @abc.abstractmethod
    async def list_users(self, now_ms: int) -> list[UserInfo]:
        """Every account, deleted ones included (their names stay reserved), by name."""

    @abc.abstractmethod
    async def user_info(self, name: str, now_ms: int) -> UserInfo | None:
        """The account named ``name`` ignoring case, whatever its state."""

    @abc.abstractmethod
    async def token_account_state(self, token_hash: str, now_ms: int) -> AccountState | None:
        """The state of the account an unexpired token belongs to; None for no such token.

        Only asked after ``user_for_token`` refused, to say *why* in the error.
        """

    # -- changing accounts: each commits its account event in the same transaction --------

    @abc.abstractmethod
    async def set_disabled(self, user_id: int, disabled: bool, ts: int) -> bool:
        """Disable or enable an account; False when it already was so (or is deleted).

        Disabling keeps the tokens (they are refused while disabled, and work again after
        enabling) and records a "disabled" event, so live sessions end everywhere.
        """

    @abc.abstractmethod
    async def revoke_tokens(self, user_id: int, ts: int) -> int:
        """Delete every token of the user and record a "revoked" event; how many went."""

    @abc.abstractmethod
    async def reset_password(self, user_id: int, password_hash: str, ts: int) -> int:
        """Store a new password hash, delete every token, record a "password" event."""

    @abc.abstractmethod
    async def delete_account(self, user_id: int, heir_id: int | None, ts: int) -> DeletedAccount:
        """Delete an account but keep its messages and its name.

        The row stays as a tombstone (so messages, reactions and DM ids still name it and
        nobody can register the name again); its password hash and tokens are erased, it
        leaves every room, and rooms it owned pass to ``heir_id`` (or to nobody).
        """

    @abc.abstractmethod
    async def add_to_room_quietly(self, room_id: str, user_id: int, ts: int) -> bool:
        """Add a member without a system message (an admin command never writes messages
        while servers run: their change order is theirs); records a "joined" event."""

    @abc.abstractmethod
    async def note_seen(self, user_id: int, ts: int) -> None:
        """Remember that the user signed in or resumed a session at ``ts``."""

    # -- the event feed running servers poll ----------------------------------------------

    @abc.abstractmethod
    async def latest_account_event(self) -> int:
        """The newest event id (0 for none): one cheap query, asked once a second."""

    @abc.abstractmethod
    async def account_events_after(self, after_id: int, limit: int) -> list[AccountEvent]:
        """Events with id > ``after_id``, ascending, at most ``limit``."""
