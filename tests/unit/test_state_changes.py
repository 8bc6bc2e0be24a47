"""MessageStore and protocol v2 changes: seq-ordered upserts, quotes, tombstones, the
unread divider from ``read_up_to``."""

from __future__ import annotations

from desktop.state.messages import MessageStore, first_unread_id
from desktop.state.types import Change, ImageInfo, Message, ReplyPreview, Room


def wire(mid: int, seq: int, text: str = "hi", sender: str = "bob", **extra: object) -> Message:
    data: dict[str, object] = {"id": mid, "room": "general", "sender": sender,
                               "ts": 1_764_100_000_000 + mid, "kind": "text", "text": text,
                               "seq": seq, "edited_ts": None, "deleted": False,
                               "reply_to": None, "reactions": [], "mentions": [],
                               "file": None}
    data.update(extra)
    return Message.from_wire(data)


def test_v2_fields_are_parsed_and_default_for_v1() -> None:
    m = wire(3, 7, reply_to={"id": 1, "sender": "al", "kind": "text", "text": "q",
                             "deleted": False},
             reactions=[{"emoji": "👍", "users": ["al", "bob"]}], mentions=["al"],
             file={"id": "f1", "name": "r.pdf", "size": 10, "mime": "application/pdf"},
             edited_ts=1_764_100_000_999)
    assert m.seq == 7 and m.edited_ts == 1_764_100_000_999
    assert m.reply_to == ReplyPreview(1, "al", "text", "q", False)
    assert m.reactions == (("👍", ("al", "bob")),) and m.mentions == ("al",)
    assert m.file is not None and m.file.name == "r.pdf"
    v1 = Message.from_wire({"id": 1, "room": "general", "sender": "x", "ts": 1, "text": "a"})
    assert (v1.seq, v1.deleted, v1.reply_to, v1.reactions, v1.file) == (0, False, None, (), None)
    assert v1.mentions is None
    room = Room.from_wire({"id": "general", "name": "general", "seq": 9, "read_up_to": 4})
    assert (room.seq, room.read_up_to) == (9, 4)
    assert Room.from_wire({"id": "x"}).read_up_to is None


def test_a_newer_seq_replaces_the_held_state_and_an_older_one_does_not() -> None:
    store = MessageStore("alice")
    store.add_many("general", [wire(1, 1), wire(2, 2, "first")])
    changes: list[Change] = []
    store.subscribe(changes.append)
    store.apply_changes("general", [wire(2, 5, "edited", edited_ts=1_764_100_001_000)])
    held = store.get("general", 2)
    assert held is not None and held.text == "edited" and held.edited_ts is not None
    assert changes[-1].kind == "updated" and "text" in changes[-1].fields
    store.apply_changes("general", [wire(2, 4, "stale")])  # out of order: ignored
    assert held.text == "edited" and held.seq == 5
    assert store.held_seq("general") == 5


def test_a_tombstone_keeps_no_content_and_updates_quotes_of_it() -> None:
    store = MessageStore("alice")
    thumb = ImageInfo(id="m1", mime="image/png", name="a.png", size=3, width=1, height=1,
                      thumb=b"png")
    store.add_many("general", [
        wire(1, 1, "parent", kind="image",
             image={"id": "m1", "mime": "image/png", "name": "a.png", "size": 3,
                    "width": 1, "height": 1, "thumb": b"png"}),
        wire(2, 2, "reply", reply_to={"id": 1, "sender": "bob", "kind": "image",
                                      "text": "parent", "deleted": False}),
    ])
    held = store.get("general", 1)
    assert held is not None and held.image == thumb
    store.apply_changes("general", [wire(1, 3, "", kind="image", deleted=True)])
    assert held.deleted and held.image is None and held.text == ""
    reply = store.get("general", 2)
    assert reply is not None and reply.reply_to is not None
    assert reply.reply_to.deleted and reply.reply_to.text == ""


def test_an_update_without_thumb_keeps_the_held_thumbnail() -> None:
    store = MessageStore("alice")
    image = {"id": "m1", "mime": "image/png", "name": "a.png", "size": 3, "width": 1,
             "height": 1, "thumb": b"png"}
    store.add(wire(1, 1, "cap", kind="image", image=image))
    store.apply_changes("general", [wire(1, 2, "new caption", kind="image",
                                         image={**image, "thumb": None})])
    held = store.get("general", 1)
    assert held is not None and held.text == "new caption"
    assert held.image is not None and held.image.thumb == b"png"


def test_a_change_older_than_the_loaded_history_leaves_no_hole() -> None:
    store = MessageStore("alice")
    store.add_many("general", [wire(10, 10), wire(11, 11)])
    store.apply_changes("general", [wire(3, 12, "old edit"), wire(12, 13, "new")])
    assert [m.id for m in store.messages("general")] == [10, 11, 12]
    assert store.held_seq("general") == 13


def test_a_pending_edit_shows_until_the_server_state_matches_it() -> None:
    store = MessageStore("alice")
    store.add(wire(1, 1, "tpyo", sender="alice"))
    store.set_pending_edit("general", 1, "typo")
    held = store.get("general", 1)
    assert held is not None and held.pending_edit == "typo"
    store.apply_changes("general", [wire(1, 2, "typo", sender="alice", edited_ts=5)])
    assert held.pending_edit is None and held.text == "typo"


def test_the_unread_divider_follows_read_up_to() -> None:
    msgs = [wire(1, 1, sender="bob"), wire(2, 2, sender="alice"), wire(3, 3, deleted=True),
            wire(4, 4, sender="carol"), wire(5, 5, sender="bob")]
    assert first_unread_id(msgs, 2, "alice", read_up_to=1) == 4
    assert first_unread_id(msgs, 0, "alice", read_up_to=1) is None
    assert first_unread_id(msgs, 1, "alice", read_up_to=5) is None
    assert first_unread_id(msgs, 2, "alice") == 4  # v1: the last two not own
