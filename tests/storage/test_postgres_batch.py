"""Group commit on PostgreSQL: concurrent inserts share one transaction, keep every guarantee.

Whether messages shared a transaction is read from PostgreSQL itself (``xmin``, the id of
the transaction that wrote the row), so the batching is checked, not assumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from server.storage.base import Mentions, MessageRecord, Storage
from server.storage.base_v2 import UploadUnavailable
from tests.storage.conftest import open_postgres
from tests.storage.helpers import new, room, send, user
from tests.storage.test_messages import image

INSERT_LOGGER = "server.storage.postgres.messages"


@pytest.fixture
async def node(pg_url: str) -> AsyncIterator[Storage]:
    s = await open_postgres(pg_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def two_nodes(pg_url: str) -> AsyncIterator[list[Storage]]:
    """Two storages (two pools, as two server nodes) on one database."""
    opened = await asyncio.gather(*(open_postgres(pg_url) for _ in range(2)))
    try:
        yield list(opened)
    finally:
        for s in opened:
            await s.close()


async def _transactions(storage: Storage, ids: list[int]) -> int:
    """How many transactions wrote these messages."""
    async with storage._conn() as conn:  # type: ignore[attr-defined]
        return int(
            await conn.fetchval(
                "SELECT COUNT(DISTINCT xmin::text) FROM messages WHERE id = ANY($1::bigint[])",
                ids,
            )
        )


async def _dense(storage: Storage, room_id: str) -> list[MessageRecord]:
    """The room's messages; their seqs are 1..n and follow their ids."""
    page, more = await storage.history(room_id, None, None, 1000)
    assert not more
    assert [m.seq for m in page] == list(range(1, len(page) + 1)), room_id
    seqs = await storage.room_seqs()
    assert seqs[room_id] == len(page)
    return page


async def test_a_batch_mixes_rooms_and_a_retry_inside_it(node: Storage) -> None:
    alice = await user(node, "alice")
    bob = await user(node, "bob")
    for r in ("r1", "r2", "r3"):
        await room(node, r, [alice, bob])
    earlier = await send(node, "r1", alice, "before", cid="old")
    batch = [
        new("r1", alice, "one", "a1"),
        new("r2", bob, "two", "b1"),
        new("r1", alice, "one again", "a1"),  # a retry of a1, in the same batch
        new("r3", alice, "hi @bob", "a2", mentions=Mentions(("bob",), (bob.id,), False)),
        new("r1", alice, "an old resend", "old"),  # a retry of a committed message
        new("r2", alice, "", "a3", kind="image", image=image("img-1")),
        new("r3", None, "", system_event="join", system_user="bob"),
    ]
    results = await asyncio.gather(*(node.insert_message(m) for m in batch))
    created = [c for _, c in results]
    assert created == [True, True, False, True, False, True, True]
    (a1, _), (b1, _), (retry, _), (a2, _), (old, _), (img, _), (sys_msg, _) = results
    assert retry == a1 and retry.text == "one"
    assert old == earlier
    new_ids = [a1.id, b1.id, a2.id, img.id, sys_msg.id]
    assert await _transactions(node, new_ids) == 1  # one transaction, one commit
    # what the batch built without reading back is what a read returns
    for made in (a1, b1, a2, img, sys_msg):
        assert await node.get_message(made.room, made.id) == made
    assert a2.mentions == ("bob",)
    async with node._conn() as conn:  # type: ignore[attr-defined]
        mentioned = await conn.fetch("SELECT message_id, user_id FROM message_mentions")
    assert [tuple(r) for r in mentioned] == [(a2.id, bob.id)]
    assert [m.id for m in await _dense(node, "r1")] == [earlier.id, a1.id]
    assert [m.id for m in await _dense(node, "r2")] == [b1.id, img.id]
    assert [m.id for m in await _dense(node, "r3")] == [a2.id, sys_msg.id]


async def test_a_plain_batch_is_one_statement_and_a_resend_in_it_still_stores_once(
    node: Storage,
) -> None:
    alice = await user(node, "alice")
    bob = await user(node, "bob")
    for r in ("r1", "r2"):
        await room(node, r, [alice, bob])
    plain = [
        new("r1", alice, "a", "p1"),
        new("r2", bob, "b", "p2"),
        new("r1", bob, "c", "p3"),
        new("r2", None, "", system_event="join", system_user="bob"),
        new("r1", alice, "d @room", "p4", mentions=Mentions(("@room",), (), True)),
    ]
    results = await asyncio.gather(*(node.insert_message(m) for m in plain))
    assert all(created for _, created in results)
    made = [m for m, _ in results]
    assert await _transactions(node, [m.id for m in made]) == 1
    for m in made:
        assert await node.get_message(m.room, m.id) == m
    assert [m.id for m in await _dense(node, "r1")] == [made[0].id, made[2].id, made[4].id]
    # a plain batch with a resend of a stored message: the resend comes back as stored
    again = await asyncio.gather(
        node.insert_message(new("r2", alice, "e", "p5")),
        node.insert_message(new("r1", bob, "c (resent)", "p3")),
        node.insert_message(new("r1", alice, "f", "p6")),
    )
    assert [c for _, c in again] == [True, False, True]
    assert again[1][0] == made[2]
    assert [m.text for m in await _dense(node, "r1")] == ["a", "c", "d @room", "f"]
    assert [m.text for m in await _dense(node, "r2")] == ["b", "", "e"]


async def test_a_failing_message_fails_alone(
    node: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await user(node, "alice")
    await room(node, "r", [alice])
    await room(node, "s", [alice])
    batch = [
        new("r", alice, "first", "1"),
        new("r", alice, "", "2", kind="file", upload_id="no-such-upload"),
        new("s", alice, "second", "3"),
        new("closed", alice, "into a room that is gone", "4"),
        new("r", alice, "third", "5"),
    ]
    with caplog.at_level(logging.DEBUG, logger=INSERT_LOGGER):
        results = await asyncio.gather(
            *(node.insert_message(m) for m in batch), return_exceptions=True
        )
    assert isinstance(results[1], UploadUnavailable)
    assert isinstance(results[3], LookupError)
    stored = [r for r in results if not isinstance(r, BaseException)]
    assert len(stored) == 3 and all(created for _, created in stored)
    assert any("redone with savepoints" in r.message for r in caplog.records)
    # the neighbours committed (in one transaction, a savepoint each: their xmin are the
    # savepoints' own ids, so not compared here); the failures took no seq
    assert [m.text for m in await _dense(node, "r")] == ["first", "third"]
    assert [m.text for m in await _dense(node, "s")] == ["second"]
    # the failed client ids are free: a resend of a fixed message goes in
    fixed, created = await node.insert_message(new("r", alice, "now a text", "2"))
    assert created and fixed.seq == 3


async def test_two_nodes_batching_into_one_room_keep_commit_order(
    two_nodes: list[Storage],
) -> None:
    """Section 10 with batches: a reader following ``after`` cursors misses nothing while
    two nodes commit batches into the same room (and others) at the same time."""
    a, b = two_nodes
    writers = [await user(a, f"w{i}") for i in range(8)]
    await room(a, "r", writers)
    await room(a, "other", writers)
    seen: list[MessageRecord] = []
    done = asyncio.Event()
    rounds = 15

    async def write(node: Storage, who: int) -> None:
        for i in range(rounds):
            target = "other" if i % 4 == 3 else "r"
            await send(node, target, writers[who], f"{who}-{i}", cid=f"{who}-{i}")

    async def follow() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page, _ = await a.history("r", None, after, 100)
            seen.extend(page)
            if page:
                after = page[-1].id
            elif finished:
                return
            else:
                await asyncio.sleep(0)

    follower = asyncio.create_task(follow())
    # four writers per node, so each node's inserts queue up and commit in batches
    await asyncio.gather(*(write(a if w % 2 else b, w) for w in range(8)))
    done.set()
    await follower
    everything = await _dense(b, "r")
    assert [m.id for m in seen] == [m.id for m in everything]
    other = await _dense(b, "other")
    assert len(everything) + len(other) == 8 * rounds
    # and batching happened: fewer transactions than messages
    ids = [m.id for m in everything + other]
    assert await _transactions(a, ids) < len(ids)


async def test_two_nodes_batching_across_rooms_in_opposite_orders_do_not_deadlock(
    two_nodes: list[Storage], caplog: pytest.LogCaptureFixture
) -> None:
    """Each batch locks its rooms in id order, whatever order its messages came in."""
    a, b = two_nodes
    alice = await user(a, "alice")
    rooms = [await room(a, f"room-{i:02d}", [alice]) for i in range(10)]

    async def burst(node: Storage, order: list[str], tag: str) -> None:
        for n in range(6):
            await asyncio.gather(
                *(node.insert_message(new(r, alice, tag, f"{tag}-{n}-{r}")) for r in order)
            )

    with caplog.at_level(logging.DEBUG, logger=INSERT_LOGGER):
        await asyncio.gather(burst(a, rooms, "up"), burst(b, rooms[::-1], "down"))
    # no batch failed and none was redone (a deadlock would have been one of those)
    assert not [r for r in caplog.records if r.name == INSERT_LOGGER]
    for r in rooms:
        assert len(await _dense(a, r)) == 12
