"""Edits, deletes, reactions and the changes feed (protocol v2), on both backends."""

from __future__ import annotations

from server.storage.base import NO_MENTIONS, Mentions, Storage
from tests.storage.helpers import room, send, user


async def test_edits(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice, bob])
    m = await send(storage, "r", alice, "first", mentions=Mentions(("bob",), (bob.id,), False))
    sysmsg = await send(storage, "r", None, "", system_event="join", system_user="bob")
    edit = storage.edit_message
    assert (await edit("r", 10**9, alice.id, "x", NO_MENTIONS, 5)).status == "not_found"
    assert (await edit("other", m.id, alice.id, "x", NO_MENTIONS, 5)).status == "not_found"
    assert (await edit("r", sysmsg.id, alice.id, "x", NO_MENTIONS, 5)).status == "system"
    assert (await edit("r", m.id, bob.id, "x", NO_MENTIONS, 5)).status == "forbidden"
    same = await edit("r", m.id, alice.id, "first", NO_MENTIONS, 5)
    assert same.status == "unchanged" and same.message is not None and same.message.seq == 1
    done = await edit("r", m.id, alice.id, "second", NO_MENTIONS, 7)
    assert done.status == "changed" and done.message is not None
    assert (done.message.text, done.message.edited_ts, done.message.seq) == ("second", 7, 3)
    assert done.message.mentions == ()
    view = await storage.room_view("r", bob.id)
    assert view is not None and view.mentions == 0  # the edit took the mention away
    await storage.delete_message("r", m.id, alice.id, moderator=False)
    assert (await edit("r", m.id, alice.id, "third", NO_MENTIONS, 9)).status == "deleted"


async def test_deletes_leave_a_tombstone(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice, bob])
    m = await send(storage, "r", alice, "secret", cid="c1")
    await storage.set_reaction("r", m.id, bob.id, "👍", True, 20)
    delete = storage.delete_message
    assert (await delete("r", m.id, bob.id, moderator=False)).status == "forbidden"
    done = await delete("r", m.id, bob.id, moderator=True)
    assert done.status == "changed" and done.message is not None
    tomb = done.message
    assert (tomb.deleted, tomb.text, tomb.reactions, tomb.client_id, tomb.seq) == (
        True,
        "",
        (),
        "c1",
        3,
    )
    again = await delete("r", m.id, alice.id, moderator=False)
    assert again.status == "unchanged" and again.message == tomb
    assert (await storage.set_reaction("r", m.id, bob.id, "👍", True, 20)).status == "deleted"
    # a resend of a deleted message still answers its tombstone
    assert await storage.message_by_client_id(alice.id, "c1") == tomb


async def test_reactions_keep_their_order_and_limit(storage: Storage) -> None:
    alice, bob, carol = [await user(storage, n) for n in ("alice", "bob", "carol")]
    await room(storage, "r", [alice, bob, carol])
    m = await send(storage, "r", alice, "react to me")
    react = storage.set_reaction
    assert (await react("r", m.id, bob.id, "🎉", True, 2)).status == "changed"
    assert (await react("r", m.id, carol.id, "👍", True, 2)).status == "changed"
    assert (await react("r", m.id, alice.id, "🎉", True, 2)).status == "changed"
    assert (await react("r", m.id, alice.id, "❤️", True, 2)).status == "too_many"
    assert (await react("r", m.id, alice.id, "🎉", True, 2)).status == "unchanged"
    assert (await react("r", m.id, carol.id, "🎉", False, 2)).status == "unchanged"
    out = await react("r", m.id, bob.id, "🎉", False, 2)
    assert out.status == "changed" and out.message is not None
    assert [(r.emoji, r.users) for r in out.message.reactions] == [
        ("🎉", ("alice",)),
        ("👍", ("carol",)),
    ]
    assert out.message.seq == 5
    page, more = await storage.history("r", None, None, 10)
    assert page[0].reactions == out.message.reactions and not more
    assert (await react("r", 10**9, bob.id, "👍", True, 2)).status == "not_found"


async def test_changes_feed(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    a = await send(storage, "r", alice, "a")
    b = await send(storage, "r", alice, "b")
    c = await send(storage, "r", alice, "c")
    await storage.edit_message("r", a.id, alice.id, "a2", NO_MENTIONS, 1)
    await storage.delete_message("r", b.id, alice.id, moderator=False)
    page = await storage.changes("r", 0, 2)
    assert [m.id for m in page.messages] == [c.id, a.id] and page.has_more and page.seq == 5
    page = await storage.changes("r", 4, 10)
    assert [(m.id, m.seq, m.deleted) for m in page.messages] == [(b.id, 5, True)]
    assert not page.has_more
    page = await storage.changes("r", 5, 10)
    assert page.messages == [] and page.seq == 5
    assert (await storage.changes("nope", 0, 10)).seq == 0
