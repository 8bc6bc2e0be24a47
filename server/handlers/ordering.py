"""Broadcasts of a room's changes leave in ``seq`` order (protocol v2, section 10).

Changes commit in seq order, but the coroutines that broadcast them resume in whatever
order the event loop runs them (a batch of inserts and an edit finish their storage calls
through different paths). A client that got seq 9 before seq 8 and lost its connection in
between would later catch up "since 9" and never see 8. So every broadcast of a change
(``message`` for a new one, ``message:updated`` for the rest) goes through
:class:`RoomChangeOrder`, which sends seq s of a room only after s - 1.

It expects the seqs this process commits: one process owns the SQLite file, and the
counters it starts from are loaded at start. A change whose broadcast never comes (its
handler failed between the commit and the broadcast) holds the ones behind it for at most
``hold_s``, then they go and the gap is logged; clients still find the change through
``message:changes``. A backend with several server processes needs the same ordering from
its pub/sub instead (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import socketio

logger = logging.getLogger(__name__)

HOLD_S = 1.0

# (event, data, skip_sid) of one held broadcast
_Broadcast = tuple[str, Any, Any]


class RoomChangeOrder:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        hold_s: float = HOLD_S,
    ) -> None:
        self._sio = sio
        self._spawn = spawn
        self._hold_s = hold_s
        self._next: dict[str, int] = {}  # the seq each room broadcasts next
        self._held: dict[str, dict[int, _Broadcast]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._draining: set[str] = set()

    def load(self, seqs: dict[str, int]) -> None:
        """Start from the rooms' counters as stored (every later seq is this process's)."""
        self._next = {room: seq + 1 for room, seq in seqs.items()}

    async def broadcast(
        self, room: str, seq: int, event: str, data: Any, skip_sid: Any = None
    ) -> None:
        if seq == 1:
            # the first change of a room (a new room, or one closed and made again); what
            # is held already belongs to it (its seq 2 may have finished first)
            self._next[room] = 1
        expected = self._next.get(room, 1)
        if seq < expected:
            # its turn was given up, or it came before anything was known: send it now
            await self._sio.emit(event, data, to=room, skip_sid=skip_sid)
            return
        if seq == expected and room not in self._draining and not self._held.get(room):
            # the common case, its turn and nothing held: sent at once, with no hold entry
            # (a later seq arriving during the emit is held and sent by the drain after it)
            self._next[room] = seq + 1
            self._draining.add(room)
            try:
                await self._sio.emit(event, data, to=room, skip_sid=skip_sid)
            finally:
                self._draining.discard(room)
            if self._held.get(room):
                await self._drain(room)
            return
        self._held.setdefault(room, {})[seq] = (event, data, skip_sid)
        await self._drain(room)

    async def _drain(self, room: str) -> None:
        if room in self._draining:
            return  # the drain already running sends this one in its turn
        self._draining.add(room)
        try:
            held = self._held.get(room, {})
            while self._next.get(room, 1) in held:
                seq = self._next.get(room, 1)
                event, data, skip_sid = held.pop(seq)
                self._next[room] = seq + 1
                await self._sio.emit(event, data, to=room, skip_sid=skip_sid)
        finally:
            self._draining.discard(room)
            if self._held.get(room):
                if room not in self._timers:
                    loop = asyncio.get_running_loop()
                    self._timers[room] = loop.call_later(self._hold_s, self._give_up, room)
            else:
                self._forget(room)

    def _give_up(self, room: str) -> None:
        self._timers.pop(room, None)
        held = self._held.get(room)
        if not held:
            return
        missing = self._next.get(room, 1)
        logger.warning(
            "room %s: change %d was never broadcast; sending the ones after it", room, missing
        )
        self._next[room] = min(held)
        self._spawn(self._drain(room))

    def _forget(self, room: str) -> None:
        self._held.pop(room, None)
        timer = self._timers.pop(room, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        for room in list(self._timers):
            self._forget(room)
