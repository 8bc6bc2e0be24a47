"""RoomChangeOrder on its own: seq order per room, and a missing broadcast does not hold the
room forever. The sink records what would go to ``AsyncServer.emit`` (the path the
integration test ``test_broadcasts_of_one_room_arrive_in_seq_order_under_concurrency``
drives for real); the gap case needs a handler that dies between its commit and its
broadcast, which no client can cause on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from server.handlers.ordering import RoomChangeOrder


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.changed = asyncio.Event()

    async def emit(self, event: str, data: Any, to: str, skip_sid: Any = None) -> None:
        self.sent.append((to, data))
        self.changed.set()


def make(hold_s: float = 60.0) -> tuple[RoomChangeOrder, RecordingSink, set[asyncio.Task[None]]]:
    sink = RecordingSink()
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        tasks.add(asyncio.get_running_loop().create_task(coro))

    order = RoomChangeOrder(sink, spawn, hold_s=hold_s)  # type: ignore[arg-type]
    return order, sink, tasks


async def test_a_later_seq_waits_for_the_earlier_one_per_room() -> None:
    order, sink, _ = make()
    order.load({"a": 4, "b": 0})
    await order.broadcast("a", 6, "message", 6)
    await order.broadcast("b", 1, "message", 1)  # another room is not held up
    assert sink.sent == [("b", 1)]
    await order.broadcast("a", 5, "message", 5)
    assert sink.sent == [("b", 1), ("a", 5), ("a", 6)]
    await order.broadcast("a", 7, "message", 7)
    assert sink.sent[-1] == ("a", 7)
    # a room unknown at load (made since) starts at 1; seq 1 also restarts a remade room
    await order.broadcast("c", 2, "message", 2)
    await order.broadcast("c", 1, "message", 1)
    await order.broadcast("a", 1, "message", 1)
    assert sink.sent[-3:] == [("c", 1), ("c", 2), ("a", 1)]


async def test_a_broadcast_that_never_comes_holds_the_room_only_briefly() -> None:
    order, sink, tasks = make(hold_s=0.05)
    order.load({"a": 0})
    await order.broadcast("a", 2, "message", 2)  # seq 1 never comes
    await order.broadcast("a", 3, "message", 3)
    assert sink.sent == []
    async with asyncio.timeout(5):
        while len(sink.sent) < 2:
            sink.changed.clear()
            await sink.changed.wait()
    assert sink.sent == [("a", 2), ("a", 3)]
    await asyncio.gather(*tasks)
    # if it turns up after all, it goes out at once
    await order.broadcast("a", 1, "message", 1)
    assert sink.sent[-1] == ("a", 1)
    order.close()
