"""NodeLink: what the handlers tell the rest of a cluster, and ask of it.

The handlers call these hooks at the few places where one node's change matters to the
others (a membership change, a room change broadcast, a revoked session, a connection
coming or going). The single-process server uses this base class, whose hooks do nothing
and whose answers are the local ones, so it behaves exactly as before and pays one plain
method call per hook. :class:`server.cluster.node.ClusterNode` overrides them with Redis.
"""

from __future__ import annotations

from typing import Any

from server.storage.base import User


class NodeLink:
    """The single-process link: there are no other nodes."""

    clustered = False

    def entered(self, user_id: int, room_id: str) -> None:
        """The user became a member of the room (its sockets elsewhere must enter it)."""

    def left(self, user_id: int, room_id: str) -> None:
        """The user stopped being a member (its sockets elsewhere must leave the room)."""

    def rooms_changed(self, room_ids: list[str]) -> None:
        """Cached state of these rooms changed (a topic): other nodes forget theirs."""

    def change(self, room: str, seq: int, event: str, data: Any) -> None:
        """A stored room change is about to be broadcast here: the other nodes get it too."""

    def revoke(self, user_id: int, token_hash: str | None, keep_sid: str | None) -> None:
        """End the user's sessions on the other nodes (``token_hash`` None: every token)."""

    async def admit(self, user: User, local_count: int, limit: int) -> tuple[bool, bool]:
        """``(allowed, first)`` for a new connection of ``user``, who has ``local_count``
        here already: allowed under the per-user ``limit``, and whether it is the user's
        first connection anywhere (presence goes online)."""
        return local_count < limit, local_count == 0

    async def release(self, user: User, local_last: bool) -> bool:
        """A connection of ``user`` ended; True when it was the user's last anywhere."""
        return local_last
