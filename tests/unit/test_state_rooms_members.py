"""RoomStore and MemberStore: upserts, unread, presence across rooms."""

from __future__ import annotations

from desktop.state.members import MemberStore
from desktop.state.rooms import RoomStore
from desktop.state.types import Change, Member, Message, Room


def test_room_store_reports_changed_fields_and_keeps_last_message() -> None:
    store = RoomStore()
    changes: list[Change] = []
    store.subscribe(changes.append)
    store.upsert(Room(id="general", name="general", joined=True))
    last = Message(id=4, room="general", sender="bob", ts=1, kind="text", text="x")
    store.set_last_message("general", last)
    store.set_last_message("general", Message(id=2, room="general", sender="bob", ts=1,
                                              kind="text"))
    store.upsert(Room(id="general", name="general", topic="news", joined=True))
    room = store.get("general")
    assert room is not None and room.last_message is last and room.topic == "news"
    assert [c.kind for c in changes] == ["inserted", "updated", "updated"]
    assert changes[-1].fields == frozenset({"topic"})


def test_unread_counts_increment_and_reset() -> None:
    store = RoomStore()
    store.upsert(Room(id="dev", name="dev", joined=True))
    store.increment_unread("dev")
    store.increment_unread("dev", 2)
    assert store.get("dev").unread == 3  # type: ignore[union-attr]
    store.set_unread("dev", 0)
    assert store.get("dev").unread == 0  # type: ignore[union-attr]


def test_browsable_lists_only_public_rooms_not_joined() -> None:
    store = RoomStore()
    store.replace_all([Room(id="a", name="a", joined=True), Room(id="b", name="b"),
                       Room(id="p", name="p", kind="private")])
    assert [r.id for r in store.browsable()] == ["b"]
    assert [r.id for r in store.joined()] == ["a"]


def test_member_presence_updates_every_room_the_user_is_in() -> None:
    store = MemberStore()
    changes: list[Change] = []
    store.set_members("a", [Member("carol", False), Member("Bob", False)])
    store.set_members("b", [Member("bob", False)])
    store.subscribe(changes.append)
    store.set_online("BOB", True)
    assert [m.online for m in store.members("a")] == [True, False]  # sorted: Bob, carol
    assert store.members("b")[0].online is True
    assert [(c.key, c.rows) for c in changes] == [("a", (0,)), ("b", (0,))]
    store.add("a", "alice")
    store.add("a", "ALICE")
    store.remove("a", "carol")
    assert [m.name for m in store.members("a")] == ["alice", "Bob"]
