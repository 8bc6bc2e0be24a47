"""Rooms, membership and the per-viewer Room view, on both backends."""

from __future__ import annotations

from server.storage.base import Mentions, Storage
from tests.storage.helpers import room, send, user


async def test_room_records_and_membership(storage: Storage) -> None:
    alice, bob, carol = [await user(storage, n) for n in ("alice", "Bob", "carol")]
    await room(storage, "general", [alice, bob], topic="hello")
    assert not await storage.create_room("general", "public", "", alice.id, [carol.id])
    got = await storage.get_room("general")
    assert got is not None
    assert (got.id, got.kind, got.topic, got.owner, got.members) == (
        "general",
        "public",
        "hello",
        "alice",
        2,
    )
    assert got.dm_users is None
    assert await storage.get_room("nope") is None
    await storage.set_topic("general", "new topic")
    got = await storage.get_room("general")
    assert got is not None and got.topic == "new topic"

    assert await storage.is_member("general", bob.id)
    assert not await storage.is_member("general", carol.id)
    assert await storage.add_member("general", carol.id)
    assert not await storage.add_member("general", carol.id)
    got = await storage.get_room("general")
    assert got is not None and got.members == 3
    assert sorted(await storage.member_room_ids(carol.id)) == ["general"]
    assert [m.name for m in await storage.members("general")] == ["alice", "Bob", "carol"]
    assert await storage.remove_member("general", carol.id)
    assert not await storage.remove_member("general", carol.id)
    assert not await storage.is_member("general", carol.id)
    assert await storage.member_room_ids(carol.id) == []


async def test_dm_rooms_name_both_users(storage: Storage) -> None:
    alice, bob = await user(storage, "Alice"), await user(storage, "bob")
    await room(storage, "dm:alice:bob", [alice, bob], kind="dm", owner=None)
    got = await storage.get_room("dm:alice:bob")
    assert got is not None and got.dm_users == ("Alice", "bob")


async def test_a_new_member_starts_at_the_newest_message(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice])
    await send(storage, "r", alice, "one")
    last = await send(storage, "r", alice, "two")
    await storage.add_member("r", bob.id)
    positions = {m.name: (m.delivered, m.read) for m in await storage.members("r")}
    assert positions == {"alice": (0, 0), "bob": (last.id, last.id)}
    view = await storage.room_view("r", bob.id)
    assert view is not None and view.unread == 0 and view.read_up_to == last.id


async def test_views_count_unread_and_mentions(storage: Storage) -> None:
    alice, bob, carol = [await user(storage, n) for n in ("alice", "bob", "carol")]
    await room(storage, "r", [alice, bob, carol])
    await send(storage, "r", alice, "hi @bob", mentions=Mentions(("bob",), (bob.id,), False))
    await send(storage, "r", alice, "plain")
    await send(storage, "r", None, "", system_event="join", system_user="carol")
    last = await send(storage, "r", carol, "all", mentions=Mentions(("@room",), (), True))
    view = await storage.room_view("r", bob.id)
    assert view is not None
    assert (view.joined, view.unread, view.mentions, view.seq) == (True, 3, 2, 4)
    assert view.last_message is not None and view.last_message.id == last.id
    # one's own messages are never unread
    views = await storage.member_views("r", [alice.id, bob.id, carol.id])
    assert {uid: (v.unread, v.mentions) for uid, v in views.items()} == {
        alice.id: (1, 1),
        bob.id: (3, 2),
        carol.id: (2, 0),
    }
    await storage.advance_position("r", bob.id, "read", last.id)
    view = await storage.room_view("r", bob.id)
    assert view is not None and (view.unread, view.mentions, view.read_up_to) == (0, 0, last.id)
    assert await storage.member_views("nope", [bob.id]) == {}
    assert await storage.member_views("r", []) == {}


async def test_list_rooms_shows_joined_rooms_and_the_biggest_public_ones(storage: Storage) -> None:
    alice, bob, carol = [await user(storage, n) for n in ("alice", "bob", "carol")]
    await room(storage, "b-mine", [alice, bob])
    await room(storage, "a-private", [alice], kind="private")
    await room(storage, "c-small", [bob])
    await room(storage, "d-big", [bob, carol])
    await room(storage, "e-secret", [bob], kind="private")
    everything = await storage.list_rooms(alice.id)
    assert [(v.room.id, v.joined) for v in everything] == [
        ("a-private", True),
        ("b-mine", True),
        ("c-small", False),
        ("d-big", False),
    ]
    limited = await storage.list_rooms(alice.id, public_limit=1)
    assert [v.room.id for v in limited] == ["a-private", "b-mine", "d-big"]
    outsider = [v for v in everything if not v.joined]
    assert all(v.unread == 0 and v.read_up_to == 0 for v in outsider)
    assert await storage.room_view("e-secret", alice.id) is not None  # the storage does not judge
    assert await storage.room_view("nope", alice.id) is None


async def test_delete_room_removes_everything_in_it(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice, bob])
    await room(storage, "other", [alice])
    m = await send(storage, "r", alice, "bye", mentions=Mentions(("bob",), (bob.id,), False))
    await storage.set_reaction("r", m.id, bob.id, "👍", True, 20)
    kept = await send(storage, "other", alice, "stays")
    await storage.delete_room("r")
    assert await storage.get_room("r") is None
    assert not await storage.is_member("r", bob.id)
    assert await storage.get_message("r", m.id) is None
    assert await storage.member_room_ids(bob.id) == []
    assert await storage.get_message("other", kept.id) == kept
    assert await storage.room_seqs() == {"other": 1}
    assert await storage.message_count() == 1
