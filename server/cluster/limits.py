"""Rate-limit windows shared by every node (``SlidingWindow.shared``), kept in Redis.

One Lua script per check (``scripts.WINDOW``) on Redis's clock, so a user sending through
three nodes spends one budget. While the bus is down every call answers None at once (no
waiting on a dead socket) and the window falls back to its local count.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from server.cluster import scripts
from server.cluster.bus import DOWN_ERRORS

if TYPE_CHECKING:
    from server.cluster.node import ClusterNode

logger = logging.getLogger(__name__)


class RedisWindow:
    """The events of one named window (``msg``, ``login-ip``, ...) across the cluster."""

    def __init__(self, node: ClusterNode, name: str) -> None:
        self._node = node
        self._prefix = f"{node.prefix}rl:{name}:"
        self._script = node.bus.redis.register_script(scripts.WINDOW)
        self._unique = itertools.count()
        self._suffix = node.node_id.decode()

    async def _run(self, key: str, limit: int, window_s: float, mode: str) -> int | None:
        bus = self._node.bus
        if not bus.up:
            return None
        member = f"{self._suffix}.{next(self._unique)}"
        try:
            result = await self._script(
                keys=[self._prefix + key],
                args=[limit, max(1, int(window_s * 1000)), mode, member],
            )
        except DOWN_ERRORS as exc:
            bus.down("rate limit", exc)
            return None
        return int(result)

    async def allow(self, key: str, limit: int, window_s: float) -> bool | None:
        n = await self._run(key, limit, window_s, "allow")
        return None if n is None else n >= 0

    async def count(self, key: str, window_s: float) -> int | None:
        return await self._run(key, 0, window_s, "count")

    async def add(self, key: str, limit: int, window_s: float) -> None:
        await self._run(key, limit, window_s, "add")
