"""Counters for the abuse limits: sliding windows (messages per user, failed logins per
name, room actions, searches), the exponential login backoff, and concurrency slots
(uploads in flight).

In a cluster each can be *shared* (``.shared``, set by :mod:`server.cluster`): the async
methods then count in Redis across every node, and fall back to this node's own count
whenever Redis does not answer (the shared store answers None at once while it is down,
and the bus logs the outage once). The synchronous methods are always local.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Protocol


class SharedWindow(Protocol):
    """One window's events kept across a cluster; every method answers None when the shared
    store cannot be reached (the caller then uses its local count)."""

    async def allow(self, key: str, limit: int, window_s: float) -> bool | None: ...

    async def count(self, key: str, window_s: float) -> int | None: ...

    async def add(self, key: str, limit: int, window_s: float) -> None: ...


class SharedBackoff(Protocol):
    """A :class:`BackoffThrottle`'s state across a cluster; None when unreachable."""

    async def run(self, mode: str, key: str, throttle: BackoffThrottle) -> float | None:
        """``reserve``: 0.0 when reserved, else the seconds to wait; the other modes
        (``failed``, ``release``, ``succeeded``): 0.0."""
        ...


class SharedSlots(Protocol):
    """Concurrency slots across a cluster; None when unreachable."""

    async def take(self, key: str, token: str, per_key: int, total: int) -> bool | None: ...

    async def give_back(self, key: str, token: str) -> None: ...


_PURGE_ABOVE = 10_000


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds; ``limit`` 0 means no limit."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self.shared: SharedWindow | None = None

    async def acquire(self, key: str) -> bool:
        """:meth:`allow`, counted across the cluster when the window is shared."""
        if self.limit <= 0:
            return True
        if self.shared is not None:
            verdict = await self.shared.allow(key, self.limit, self.window_s)
            if verdict is not None:
                if verdict:
                    self.record(key)  # the local count stays a fair fallback
                return verdict
        return self.allow(key)

    async def is_exceeded(self, key: str) -> bool:
        """:meth:`exceeded`, across the cluster when the window is shared."""
        if self.limit <= 0:
            return False
        if self.shared is not None:
            n = await self.shared.count(key, self.window_s)
            if n is not None:
                return n >= self.limit
        return self.exceeded(key)

    async def add(self, key: str) -> None:
        """:meth:`record`, across the cluster when the window is shared."""
        if self.limit <= 0:
            return
        self.record(key)
        if self.shared is not None:
            await self.shared.add(key, self.limit, self.window_s)

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        horizon = now - self.window_s
        while events and events[0] <= horizon:
            events.popleft()
        return events

    def allow(self, key: str) -> bool:
        """Record an event if the key is under its limit; False (and nothing recorded) if not."""
        if self.limit <= 0:
            return True
        now = time.monotonic()
        events = self._trim(key, now)
        if len(events) >= self.limit:
            return False
        events.append(now)
        if len(self._events) > _PURGE_ABOVE:
            self._purge(now)
        return True

    def exceeded(self, key: str) -> bool:
        """True when the key already used up its window (records nothing)."""
        if self.limit <= 0:
            return False
        events = self._trim(key, time.monotonic())
        if not events:
            del self._events[key]
            return False
        return len(events) >= self.limit

    def record(self, key: str) -> None:
        if self.limit <= 0:
            return
        now = time.monotonic()
        self._trim(key, now).append(now)
        if len(self._events) > _PURGE_ABOVE:
            self._purge(now)

    def _purge(self, now: float) -> None:
        """Forget keys with nothing in the window (many names tried once, e.g. a scan)."""
        horizon = now - self.window_s
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= horizon]:
            del self._events[key]


class BackoffThrottle:
    """Failed attempts per key with an exponential delay instead of a hard lockout.

    The first ``free`` failures cost nothing; each further one doubles the wait before the
    next attempt may be tried (``base_s``, capped at ``max_delay_s``), and at most ``limit``
    failures count in any ``window_s``. An attempt is *reserved* before the slow password
    check and kept as a failure unless :meth:`succeeded` clears it, so a burst of concurrent
    attempts cannot all slip past a check that only learns of failures afterwards.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        free: int = 3,
        base_s: float = 1.0,
        max_delay_s: float = 30.0,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.free = free
        self.base_s = base_s
        self.max_delay_s = max_delay_s
        self._failures = SlidingWindow(limit, window_s)
        self._next_allowed: dict[str, float] = {}
        self.shared: SharedBackoff | None = None

    # -- across the cluster when shared (the local state is kept too, as the fallback) ----

    async def reserve(self, key: str) -> float:
        """:meth:`try_reserve`: 0.0 when reserved, else the seconds to wait."""
        if self.limit <= 0:
            return 0.0
        local = self.try_reserve(key)
        if self.shared is not None:
            wait = await self.shared.run("reserve", key, self)
            if wait is not None:
                if local and wait > 0:
                    self.release(key)
                return wait
        return 0.0 if local else max(self.retry_after(key), 0.001)

    async def fail(self, key: str) -> None:
        """:meth:`failed`, across the cluster."""
        self.failed(key)
        if self.shared is not None and self.limit > 0:
            await self.shared.run("failed", key, self)

    async def give_back(self, key: str) -> None:
        """:meth:`release`, across the cluster."""
        self.release(key)
        if self.shared is not None and self.limit > 0:
            await self.shared.run("release", key, self)

    async def clear(self, key: str) -> None:
        """:meth:`succeeded`, across the cluster."""
        self.succeeded(key)
        if self.shared is not None and self.limit > 0:
            await self.shared.run("succeeded", key, self)

    # -- this node only ---------------------------------------------------------------------

    def delay_after(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.base_s * 2 ** (failures - self.free), self.max_delay_s)

    def try_reserve(self, key: str) -> bool:
        """Count an attempt as failed in advance; False (nothing recorded) when it must wait."""
        if self.limit <= 0:
            return True
        now = time.monotonic()
        if now < self._next_allowed.get(key, 0.0):
            return False
        if not self._failures.allow(key):
            return False
        events = self._failures._events[key]
        self._next_allowed[key] = now + self.delay_after(len(events))
        if len(self._next_allowed) > _PURGE_ABOVE:
            self._next_allowed = {k: t for k, t in self._next_allowed.items() if t > now}
        return True

    def failed(self, key: str) -> None:
        """The reserved attempt was judged wrong: the delay runs from now, not from its start."""
        events = self._failures._events.get(key)
        if events:
            now = time.monotonic()
            due = now + self.delay_after(len(events))
            self._next_allowed[key] = max(self._next_allowed.get(key, 0.0), due)

    def release(self, key: str) -> None:
        """Give back the newest reservation (the attempt was refused before any check)."""
        events = self._failures._events.get(key)
        if events:
            events.pop()
            self._next_allowed[key] = events[-1] + self.delay_after(len(events)) if events else 0.0

    def succeeded(self, key: str) -> None:
        """A right password clears the key's failures and delay."""
        self._failures._events.pop(key, None)
        self._next_allowed.pop(key, None)

    def retry_after(self, key: str) -> float:
        return max(0.0, self._next_allowed.get(key, 0.0) - time.monotonic())


@dataclass(frozen=True, slots=True)
class Slot:
    """A held concurrency slot; ``shared`` when it is also counted across the cluster."""

    key: str
    token: str
    shared: bool


class SlotLimiter:
    """At most ``per_key`` slots per key and ``total`` in all held at once (uploads in
    flight); 0 means no limit. Shared, the counts are the cluster's, held as leases in
    Redis that the holding node renews, so a node that dies mid-upload frees its slots
    within the node TTL; while Redis is down the local counts decide."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key = per_key
        self.total = total
        self.held: Counter[str] = Counter()
        self.shared: SharedSlots | None = None
        self._tokens = itertools.count()

    async def acquire(self, key: str) -> Slot | None:
        """A slot for ``key``, or None when every slot it may use is taken."""
        token = f"{id(self):x}.{next(self._tokens)}"
        shared = False
        if self.shared is not None:
            verdict = await self.shared.take(key, token, self.per_key, self.total)
            if verdict is False:
                return None
            shared = verdict is True
        if not shared and not self._local_free(key):
            return None
        self.held[key] += 1
        return Slot(key, token, shared)

    def _local_free(self, key: str) -> bool:
        if self.per_key > 0 and self.held[key] >= self.per_key:
            return False
        return not (self.total > 0 and sum(self.held.values()) >= self.total)

    async def release(self, slot: Slot) -> None:
        self.held[slot.key] -= 1
        if self.held[slot.key] <= 0:
            del self.held[slot.key]
        if slot.shared and self.shared is not None:
            await self.shared.give_back(slot.key, slot.token)
