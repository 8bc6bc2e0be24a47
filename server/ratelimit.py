"""Sliding-window counters for the abuse limits (messages per user, failed logins per name)."""

from __future__ import annotations

import time
from collections import deque

_PURGE_ABOVE = 10_000


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds; ``limit`` 0 means no limit."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}

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
