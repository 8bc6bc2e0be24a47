"""The Redis side of a node: one pub/sub channel, an ordered publisher, a resubscribing
subscriber, and the health flag every Redis user of the node consults first.

Order. Every envelope a node publishes goes through one queue and leaves in pipelined
batches, each awaited before the next, so Redis executes (and every subscriber receives)
one node's envelopes in the order the node produced them. Envelopes published by a Lua
script (presence counts) are ordered against these by causality: the node awaits the
script before it publishes what follows from it.

Failure. Redis being unreachable never blocks a request: ``up`` turns False at the first
error (logged once per outage), everything that needs Redis falls back to this node's
local state while it is False, envelopes are dropped (counted) instead of queued without
bound, and the subscriber reconnects with exponential backoff. Each (re)connection runs
``on_connected`` (the node re-registers and reloads cluster state) before ``up`` turns
True again. Stored messages are never at risk: clients catch up from storage (a seq gap
tells them to).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.cluster import envelope

logger = logging.getLogger(__name__)

# envelopes waiting for the publisher; past this the oldest are dropped (a stalled Redis)
MAX_QUEUED = 20_000
BATCH = 512
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 5.0
# Redis errors that mean "not reachable now" (OSError: refused, reset; TimeoutError: hung)
DOWN_ERRORS = (RedisError, OSError, TimeoutError)


@dataclass
class BusStats:
    """Figures for /metrics."""

    published: int = 0
    received: int = 0
    dropped: int = 0
    malformed: int = 0
    reconnects: int = 0
    outages: int = 0
    lag_s: float = 0.0  # the node's own last ping, publish to receipt
    lag_max_s: float = 0.0
    pings: int = 0  # own pings that came back


def make_client(url: str, timeout_s: float, retries: int, name: str) -> aioredis.Redis:
    """A client that fails fast instead of retrying for seconds (the node has a fallback)."""
    return aioredis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), retries),
        health_check_interval=0,
        client_name=name,
    )


class Bus:
    def __init__(
        self,
        url: str,
        channel: str,
        node_id: bytes,
        dispatch: Callable[[bytes, bytes, Any], Awaitable[None]],
        on_connected: Callable[[bool], Awaitable[None]],
        liveness_s: float,
        timeout_s: float = 2.0,
    ) -> None:
        self.channel = channel
        self.node_id = node_id
        # named after the channel and node (CLIENT LIST shows which node a connection is)
        name = f"{channel}:{node_id.decode()}"
        self.redis = make_client(url, timeout_s, retries=1, name=name)
        self._sub_redis = make_client(url, timeout_s, retries=0, name=name)
        self._dispatch = dispatch
        self._on_connected = on_connected
        self._liveness_s = liveness_s
        self.stats = BusStats()
        self.up = False
        self.connected = asyncio.Event()
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._ever_up = False
        self._logged_down = False
        self._last_own_ping = time.monotonic()

    # -- health ----------------------------------------------------------------------------

    def down(self, what: str, exc: BaseException | None = None) -> None:
        """Mark Redis unreachable (once per outage in the log); the subscriber reconnects."""
        if self.up:
            self.stats.outages += 1
        self.up = False
        self.connected.clear()
        if not self._logged_down and not self._closing:
            self._logged_down = True
            logger.warning("Redis bus unavailable (%s: %s); serving this node locally", what, exc)

    def own_ping(self, sent: float) -> None:
        lag = max(0.0, time.monotonic() - sent)
        self._last_own_ping = time.monotonic()
        self.stats.lag_s = lag
        self.stats.pings += 1
        self.stats.lag_max_s = max(self.stats.lag_max_s, lag)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, raw: bytes) -> None:
        """Queue one envelope (synchronous; the publisher task sends it in order)."""
        if not self.up:
            self.stats.dropped += 1
            return
        self._queue.append(raw)
        if len(self._queue) > MAX_QUEUED:
            self._queue.popleft()
            self.stats.dropped += 1
        self._wake.set()

    async def _publisher(self) -> None:
        # checks _closing, not `while True`: Python 3.11's asyncio.wait_for (redis-py's socket
        # writes use it) can swallow close()'s cancel (CPython gh-86296), and the task must end
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if not self.up:
                    self.stats.dropped += len(self._queue)
                    self._queue.clear()
                    break
                n = min(len(self._queue), BATCH)
                batch = [self._queue.popleft() for _ in range(n)]
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for raw in batch:
                            pipe.publish(self.channel, raw)
                        await pipe.execute()
                    self.stats.published += n
                except asyncio.CancelledError:
                    raise
                except DOWN_ERRORS as exc:
                    self.stats.dropped += n
                    self.down("publish", exc)

    # -- subscribing -----------------------------------------------------------------------

    async def _subscriber(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._closing:
            pubsub = self._sub_redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                # the command connection may hold a socket from before a restart: one probe
                await self.redis.ping()
                await self._on_connected(self._ever_up)
                if self._ever_up:
                    self.stats.reconnects += 1
                    logger.info("Redis bus reconnected")
                self._ever_up = True
                self._logged_down = False
                self._last_own_ping = time.monotonic()
                self.up = True
                self.connected.set()
                backoff = BACKOFF_MIN_S
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except DOWN_ERRORS as exc:
                self.down("subscribe", exc)
            except Exception:
                logger.exception("the Redis bus subscriber failed; reconnecting")
                self.down("subscriber")
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # a dead connection may fail to close; it is gone anyway
                    pass
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _read(self, pubsub: Any) -> None:
        idle = min(1.0, self._liveness_s / 2)
        while self.up and not self._closing:  # _closing: a cancel can be lost (_publisher)
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=idle)
            if msg is None:
                if time.monotonic() - self._last_own_ping > self._liveness_s:
                    # our own pings stopped coming back: a hung Redis or a dead socket
                    raise TimeoutError("no ping came back over the bus")
                continue
            if msg.get("type") != "message":
                continue
            raw = msg["data"]
            try:
                node = envelope.sender(raw)
                if node == self.node_id:
                    if raw[17:18] == envelope.PING:
                        _, _, body = envelope.decode(raw)
                        self.own_ping(float(body))
                    continue
                self.stats.received += 1
                _, kind, body = envelope.decode(raw)
            except (envelope.EnvelopeError, ValueError, TypeError):
                self.stats.malformed += 1
                continue
            try:
                await self._dispatch(node, kind, body)
            except asyncio.CancelledError:
                raise
            except DOWN_ERRORS:
                raise
            except Exception:
                logger.exception("handling a bus envelope of kind %r failed", kind)

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._publisher(), name="parley-bus-publisher"),
            loop.create_task(self._subscriber(), name="parley-bus-subscriber"),
        ]

    async def flush(self, timeout_s: float = 2.0) -> None:
        """Wait (a bounded time) for the queued envelopes to be published."""
        deadline = time.monotonic() + timeout_s
        while self._queue and self.up and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.up = False
        for client in (self.redis, self._sub_redis):
            try:
                await client.aclose()
            except Exception:
                pass
