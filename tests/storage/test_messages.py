"""Inserts, idempotency, history pages, images and the send context, on both backends."""

from __future__ import annotations

import asyncio

from server.storage.base import NewImage, Storage
from tests.storage.helpers import new, room, send, user


def image(image_id: str, data: bytes = b"\x89PNG-bytes") -> NewImage:
    return NewImage(image_id, "image/png", "cat.png", data, 4, 3, b"thumb", "image/webp")


async def test_a_repeated_client_id_is_stored_once(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    first, created = await storage.insert_message(new("r", alice, "hello", "c-1"))
    assert created and first.seq == 1 and first.text == "hello" and first.sender == "alice"
    again, created = await storage.insert_message(new("r", alice, "changed?", "c-1"))
    assert not created and again == first
    assert await storage.room_seqs() == {"r": 1}  # the retry moved nothing
    assert await storage.message_by_client_id(alice.id, "c-1") == first
    assert await storage.message_by_client_id(alice.id, "c-2") is None
    # another sender may use the same client_id
    bob = await user(storage, "bob")
    await storage.add_member("r", bob.id)
    _, created = await storage.insert_message(new("r", bob, "mine", "c-1"))
    assert created


async def test_concurrent_sends_get_dense_seqs_in_id_order(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    results = await asyncio.gather(
        *(storage.insert_message(new("r", alice, f"m{i}", f"c{i}")) for i in range(30))
    )
    # a resend racing with its original is stored once too
    dupes = await asyncio.gather(
        *(storage.insert_message(new("r", alice, "dup", "same")) for _ in range(5))
    )
    assert sum(created for _, created in dupes) == 1
    assert len({m.id for m, _ in dupes}) == 1
    stored = sorted([m for m, _ in results] + [dupes[0][0]], key=lambda m: m.id)
    assert [m.seq for m in stored] == list(range(1, 32))


async def test_history_pages(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    await room(storage, "other", [alice])
    ids = [(await send(storage, "r", alice, f"m{i}")).id for i in range(7)]
    await send(storage, "other", alice, "elsewhere")
    page, more = await storage.history("r", None, None, 3)
    assert [m.id for m in page] == ids[-3:] and more
    page, more = await storage.history("r", ids[4], None, 3)
    assert [m.id for m in page] == ids[1:4] and more
    page, more = await storage.history("r", ids[2], None, 3)
    assert [m.id for m in page] == ids[:2] and not more
    page, more = await storage.history("r", None, ids[1], 3)
    assert [m.id for m in page] == ids[2:5] and more
    page, more = await storage.history("r", None, ids[3], 3)
    assert [m.id for m in page] == ids[4:] and not more
    assert await storage.history("empty", None, None, 5) == ([], False)
    assert await storage.message_count() == 8


async def test_get_message_only_in_its_room(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    await room(storage, "other", [alice])
    m = await send(storage, "r", alice, "x")
    assert await storage.get_message("r", m.id) == m
    assert await storage.get_message("other", m.id) is None


async def test_images_are_stored_with_their_message(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice, bob])
    data = bytes(range(256)) * 100
    m = await send(storage, "r", alice, "caption", kind="image", image=image("img-1", data))
    assert m.image is not None
    assert (m.image.id, m.image.size, m.image.width, m.image.height, m.image.thumb) == (
        "img-1",
        len(data),
        4,
        3,
        b"thumb",
    )
    blob = await storage.media("img-1")
    assert blob is not None and (blob.room, blob.mime, blob.name, blob.data) == (
        "r",
        "image/png",
        "cat.png",
        data,
    )
    assert await storage.media("nope") is None
    # deleting the message erases the bytes in the same commit
    outcome = await storage.delete_message("r", m.id, alice.id, moderator=False)
    assert outcome.status == "changed"
    assert await storage.media("img-1") is None


async def test_replies_show_the_parent_as_it_is_now(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice, bob])
    parent = await send(storage, "r", alice, "p" * 300)
    reply = await send(storage, "r", bob, "answer", reply_to=parent.id)
    assert reply.reply_to is not None
    assert (reply.reply_to.id, reply.reply_to.sender, reply.reply_to.deleted) == (
        parent.id,
        "alice",
        False,
    )
    assert len(reply.reply_to.text) == 200
    await storage.delete_message("r", parent.id, alice.id, moderator=False)
    again = await storage.get_message("r", reply.id)
    assert again is not None and again.reply_to is not None
    assert again.reply_to.deleted and again.reply_to.text == ""


async def test_send_context(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice])
    existing, got, member = await storage.send_context("r", alice.id, "c1")
    assert existing is None and got is not None and got.id == "r" and member
    existing, got, member = await storage.send_context("r", bob.id, "c1")
    assert existing is None and got is not None and not member
    assert await storage.send_context("nope", alice.id, "c1") == (None, None, False)
    stored = await send(storage, "r", alice, "x", cid="c9")
    await storage.remove_member("r", alice.id)
    # a resend after leaving still finds what was stored
    existing, _, member = await storage.send_context("r", alice.id, "c9")
    assert existing == stored and not member
