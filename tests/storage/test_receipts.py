"""Receipt positions, on both backends."""

from __future__ import annotations

from server.storage.base import PositionChange, Storage
from tests.storage.helpers import room, send, user


async def test_positions_only_move_forward_and_stop_at_the_newest(storage: Storage) -> None:
    alice, bob, carol = [await user(storage, n) for n in ("alice", "bob", "carol")]
    await room(storage, "r", [alice, bob])
    m1 = await send(storage, "r", alice, "1")
    m2 = await send(storage, "r", alice, "2")
    advance = storage.advance_position
    assert await advance("r", bob.id, "delivered", m1.id) == PositionChange(0, m1.id, 0, 0)
    # clamped to the room's newest message
    assert await advance("r", bob.id, "delivered", 10**9) == PositionChange(m1.id, m2.id, 0, 0)
    # read implies delivered; never back
    assert await advance("r", bob.id, "read", m1.id) == PositionChange(m2.id, m2.id, 0, m1.id)
    assert await advance("r", bob.id, "read", 0) == PositionChange(m2.id, m2.id, m1.id, m1.id)
    assert await advance("r", carol.id, "read", m1.id) is None
    members = {p.name: (p.delivered, p.read) for p in await storage.members("r")}
    assert members == {"alice": (0, 0), "bob": (m2.id, m1.id)}
    assert await storage.count_reached("r", "delivered", m2.id, alice.id) == 1
    assert await storage.count_reached("r", "read", m2.id, alice.id) == 0
    assert await storage.count_reached("r", "read", m1.id, bob.id) == 0


async def test_senders_in_span(storage: Storage) -> None:
    alice, bob, carol = [await user(storage, n) for n in ("alice", "bob", "carol")]
    await room(storage, "r", [alice, bob, carol])
    a1 = await send(storage, "r", alice, "a1")
    b1 = await send(storage, "r", bob, "b1")
    a2 = await send(storage, "r", alice, "a2")
    await send(storage, "r", None, "", system_event="join", system_user="carol")
    c1 = await send(storage, "r", carol, "c1")
    spans = await storage.senders_in_span("r", 0, c1.id, carol.id)
    assert sorted((s.sender, s.up_to) for s in spans) == [("alice", a2.id), ("bob", b1.id)]
    spans = await storage.senders_in_span("r", a1.id, b1.id, carol.id)
    assert [(s.sender_id, s.up_to) for s in spans] == [(bob.id, b1.id)]
