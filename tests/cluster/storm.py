"""A message storm for the fault tests: several senders through the load balancer, with checks.

Each sender sends its messages one after another with ``send_until_acked`` (a dropped
connection means: reconnect through the LB and resend the same ``client_id``). The storm
records every ack, so after the fault the test can check the stored room against it: no
acked message lost, none stored twice, and every client caught up (what it saw live plus
``message:changes`` since the highest seq it held without a gap).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.cluster.cluster_client import ClusterClient


@dataclass
class Storm:
    room: str
    senders: list[ClusterClient]
    per_sender: int
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> message id
    own: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)  # sender -> seq -> ack
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(s, i)) for i, s in enumerate(self.senders)]

    async def _run(self, sender: ClusterClient, index: int) -> None:
        for j in range(self.per_sender):
            cid = f"s{index}-{j}-{uuid.uuid4().hex[:6]}"
            msg = await sender.send_until_acked(self.room, f"storm {index}/{j}", cid)
            async with self.progress:
                assert self.acked.get(cid, msg["id"]) == msg["id"]
                self.acked[cid] = msg["id"]
                self.own.setdefault(index, {})[int(msg["seq"])] = msg
                self.progress.notify_all()

    async def wait_acked(self, count: int, timeout: float = 120.0) -> None:
        """Until at least ``count`` messages are acked in all."""
        async with asyncio.timeout(timeout):
            async with self.progress:
                await self.progress.wait_for(lambda: len(self.acked) >= count or self.done())

    def done(self) -> bool:
        return all(t.done() for t in self._tasks)

    async def finish(self, timeout: float = 300.0) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*self._tasks)

    @property
    def total(self) -> int:
        return len(self.senders) * self.per_sender


def held_seqs(client: ClusterClient, room: str) -> dict[int, dict[str, Any]]:
    """seq -> message for what ``client`` holds of ``room``: live broadcasts and its own acks."""
    held: dict[int, dict[str, Any]] = {}
    for name, data in client.events:
        if name == "message" and isinstance(data, dict) and data.get("room") == room:
            held[int(data["seq"])] = data
    return held


async def catch_up(client: ClusterClient, room: str, own: dict[int, dict[str, Any]],
                   earlier: ClusterClient | None = None) -> tuple[set[int], int]:
    """Catch up the way a v2 client does; (ids held afterwards, the lowest seq it held).

    From the lowest seq the client held (what came before it joined is history, not
    catch-up) it has everything up to the first gap, and asks ``message:changes`` from there.
    ``earlier``: the same app's previous connection (a new client object), whose messages
    it still holds.
    """
    held = held_seqs(earlier, room) if earlier is not None else {}
    held.update(held_seqs(client, room))
    held.update(own)
    if not held:
        return set(), 0
    lowest = min(held)
    since = lowest
    while since + 1 in held:
        since += 1
    fetched = await client.changes_since(room, since)
    return {m["id"] for m in held.values()} | {m["id"] for m in fetched}, lowest


def check_stored(stored: list[dict[str, Any]], storm: Storm) -> None:
    """Every acked message is stored once, with the acked id; nothing else of the storm is."""
    by_cid: dict[str, list[int]] = {}
    for m in stored:
        if m.get("client_id"):
            by_cid.setdefault(m["client_id"], []).append(m["id"])
    duplicates = {c: ids for c, ids in by_cid.items() if len(ids) > 1}
    assert not duplicates, f"stored twice: {list(duplicates.items())[:5]}"
    lost = {c: i for c, i in storm.acked.items() if by_cid.get(c) != [i]}
    assert not lost, f"acked but not stored (or under another id): {list(lost.items())[:5]}"
    assert len(storm.acked) == storm.total
    seqs = sorted(m["seq"] for m in stored)
    assert len(set(seqs)) == len(seqs), "two stored changes share a seq"
