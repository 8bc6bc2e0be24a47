"""Who is online: the live Socket.IO connections of each user, kept in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Container
from dataclasses import dataclass, field

from server.storage.base import User


def user_channel(user_id: int) -> str:
    """The Socket.IO room holding every connection of one user (never a valid room id)."""
    return f"u:{user_id}"


class UserSids(list[str]):
    """Every local connection of one user, as a ``skip_sid`` list that still names the user.

    A cluster node forwards "skip this user" to the other nodes, which skip that user's
    connections there too (a presence or typing event never goes to its own user).
    """

    def __init__(self, user_id: int, sids: list[str]) -> None:
        super().__init__(sids)
        self.user_id = user_id


@dataclass
class Connection:
    sid: str
    user: User
    token_hash: str
    # whether this was the user's first open connection when it was registered
    first: bool = False
    # set once the session event went out and the rooms are entered; handlers wait on it
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_sid: dict[str, Connection] = {}
        self._by_user: dict[int, set[str]] = {}
        # users with a connection on another node of a cluster (server.cluster.presence)
        self.elsewhere: Container[int] = frozenset()

    def __len__(self) -> int:
        return len(self._by_sid)

    def get(self, sid: str) -> Connection | None:
        return self._by_sid.get(sid)

    def count(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def is_online(self, user_id: int) -> bool:
        """Connected here or, in a cluster, on another node."""
        return user_id in self._by_user or user_id in self.elsewhere

    def is_local(self, user_id: int) -> bool:
        return user_id in self._by_user

    def users(self) -> list[int]:
        """Users with a connection here."""
        return list(self._by_user)

    def online_users(self) -> int:
        return len(self._by_user)

    def sids(self, user_id: int) -> list[str]:
        return list(self._by_user.get(user_id, ()))

    def skip_user(self, user_id: int) -> UserSids:
        """The user's connections as a ``skip_sid`` (see :class:`UserSids`)."""
        return UserSids(user_id, list(self._by_user.get(user_id, ())))

    def add(self, conn: Connection) -> bool:
        """Register a connection; True when it is the user's first."""
        self._by_sid[conn.sid] = conn
        sids = self._by_user.setdefault(conn.user.id, set())
        sids.add(conn.sid)
        conn.first = len(sids) == 1
        return conn.first

    def remove(self, sid: str) -> tuple[Connection | None, bool]:
        """Forget a connection; returns it and whether it was the user's last."""
        conn = self._by_sid.pop(sid, None)
        if conn is None:
            return None, False
        sids = self._by_user.get(conn.user.id, set())
        sids.discard(sid)
        if not sids:
            self._by_user.pop(conn.user.id, None)
            return conn, True
        return conn, False
