"""Limits shared by every node, kept in Redis: rate-limit windows (``SlidingWindow.shared``),
the login backoff (``BackoffThrottle.shared``) and concurrency slots (``SlotLimiter.shared``).

One Lua script per check (``scripts.WINDOW`` / ``BACKOFF`` / ``SLOT_TAKE``) on Redis's
clock, so a user going through three nodes spends one budget. While the bus is down every
call answers None at once (no waiting on a dead socket; the bus logs the outage once) and
the limiter falls back to its local count.

Not shared, on purpose: the image decode gate and per-user pixel budget of
:mod:`server.media`, which protect one node's CPU and memory (see its docstring).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from server.cluster import scripts
from server.cluster.bus import DOWN_ERRORS

if TYPE_CHECKING:
    from server.cluster.node import ClusterNode
    from server.ratelimit import BackoffThrottle

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


async def _call(node: ClusterNode, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()``'s answer, or None at once while the bus is down (and on an outage)."""
    bus = node.bus
    if not bus.up:
        return None
    try:
        return await call()
    except DOWN_ERRORS as exc:
        bus.down(what, exc)
        return None


class RedisBackoff:
    """One :class:`~server.ratelimit.BackoffThrottle`'s failures and delays across the
    cluster (the (user, address) login backoff): a guesser rotating nodes waits as long."""

    def __init__(self, node: ClusterNode, name: str) -> None:
        self._node = node
        self._prefix = f"{node.prefix}bo:{name}:"
        self._script = node.bus.redis.register_script(scripts.BACKOFF)
        self._unique = itertools.count()
        self._suffix = node.node_id.decode()

    async def run(self, mode: str, key: str, throttle: BackoffThrottle) -> float | None:
        k = self._prefix + key
        args: list[str | int] = [
            mode,
            throttle.limit,
            max(1, int(throttle.window_s * 1000)),
            throttle.free,
            int(throttle.base_s * 1000),
            int(throttle.max_delay_s * 1000),
            f"{self._suffix}.{next(self._unique)}",
        ]
        result = await _call(
            self._node, "login backoff", lambda: self._script(keys=[k, k + ":next"], args=args)
        )
        if result is None:
            return None
        ok, wait_ms = int(result[0]), int(result[1])
        return 0.0 if ok else max(wait_ms, 1) / 1000


class RedisSlots:
    """Concurrency slots across the cluster (uploads in flight): each a token in sorted
    sets scored by the end of its lease. The node renews its tokens' leases every heartbeat
    (:meth:`renew`); one that dies stops, and its slots lapse within the node TTL."""

    def __init__(self, node: ClusterNode, name: str) -> None:
        self._node = node
        self._prefix = f"{node.prefix}slots:{name}:"
        self._all = f"{node.prefix}slots:{name}"
        redis = node.bus.redis
        self._take = redis.register_script(scripts.SLOT_TAKE)
        self._renew = redis.register_script(scripts.SLOT_RENEW)
        self._suffix = node.node_id.decode()
        self._lease_ms = max(100, int(node.config.cluster_node_ttl_s * 1000))
        # (key, token) of the slots this node holds in Redis, for renew()
        self.held: set[tuple[str, str]] = set()

    def _token(self, token: str) -> str:
        return f"{self._suffix}.{token}"

    async def take(self, key: str, token: str, per_key: int, total: int) -> bool | None:
        member = self._token(token)
        result = await _call(
            self._node,
            "upload slots",
            lambda: self._take(
                keys=[self._all, self._prefix + key],
                args=[per_key, total, self._lease_ms, member],
            ),
        )
        if result is None:
            return None
        if int(result):
            self.held.add((key, member))
            return True
        return False

    async def give_back(self, key: str, token: str) -> None:
        member = self._token(token)
        self.held.discard((key, member))
        redis = self._node.bus.redis

        async def remove() -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self._all, member)
                pipe.zrem(self._prefix + key, member)
                await pipe.execute()

        await _call(self._node, "upload slots", remove)  # if down, the lease lapses

    async def renew(self) -> None:
        """Extend the leases of the slots still held here (from the node's heartbeat)."""
        if not self.held:
            return
        args: list[Any] = [self._lease_ms, self._prefix]
        for key, member in self.held:
            args += [key, member]
        await self._renew(keys=[self._all], args=args)
