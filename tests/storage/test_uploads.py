"""Upload metadata and how messages claim uploads (section 17), on both backends."""

from __future__ import annotations

import pytest

from server.storage.base import Storage
from server.storage.base_v2 import UploadRecord, UploadUnavailable
from tests.storage.helpers import new, room, user
from tests.storage.test_messages import image


def upload(upload_id: str, user_id: int, created_ms: int = 1000) -> UploadRecord:
    return UploadRecord(upload_id, user_id, "report.pdf", 12345, "application/pdf", created_ms)


async def test_upload_rows(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await storage.add_upload(upload("u1", alice.id, 1000))
    await storage.add_upload(upload("u2", alice.id, 3000))
    await storage.add_upload(upload("u3", bob.id, 1000))
    assert await storage.get_upload("u1") == upload("u1", alice.id, 1000)
    assert await storage.get_upload("nope") is None
    assert await storage.unused_uploads(alice.id) == 2
    assert await storage.upload_ids() == {"u1", "u2", "u3"}
    assert sorted(await storage.expire_uploads(2000)) == ["u1", "u3"]
    assert await storage.upload_ids() == {"u2"}
    assert await storage.unused_uploads(alice.id) == 1


async def test_a_message_claims_an_upload_once(storage: Storage) -> None:
    alice, bob = await user(storage, "alice"), await user(storage, "bob")
    await room(storage, "r", [alice, bob])
    await storage.add_upload(upload("u1", alice.id))
    # someone else's upload is not available, and nothing is stored
    with pytest.raises(UploadUnavailable):
        await storage.insert_message(new("r", bob, "", "b1", kind="file", upload_id="u1"))
    assert await storage.history("r", None, None, 10) == ([], False)
    assert await storage.room_seqs() == {"r": 0}
    m, created = await storage.insert_message(
        new("r", alice, "see attached", "a1", kind="file", upload_id="u1")
    )
    assert created and m.file is not None
    assert (m.file.id, m.file.name, m.file.size, m.file.mime) == (
        "u1",
        "report.pdf",
        12345,
        "application/pdf",
    )
    used = await storage.get_upload("u1")
    assert used is not None and (used.message_id, used.room) == (m.id, "r")
    assert await storage.unused_uploads(alice.id) == 0
    assert await storage.expire_uploads(10**15) == []  # a used upload never expires
    with pytest.raises(UploadUnavailable):
        await storage.insert_message(new("r", alice, "", "a2", kind="file", upload_id="u1"))
    # the resend of the first one answers it, the upload being used already
    again, created = await storage.insert_message(
        new("r", alice, "see attached", "a1", kind="file", upload_id="u1")
    )
    assert again == m and not created


async def test_an_upload_stored_as_an_image_goes(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    await storage.add_upload(upload("u1", alice.id))
    m, _ = await storage.insert_message(
        new("r", alice, "", "a1", kind="image", image=image("u1"), upload_id="u1")
    )
    assert m.image is not None and m.image.id == "u1" and m.file is None
    assert await storage.get_upload("u1") is None
    assert await storage.media("u1") is not None


async def test_deleting_a_file_message_ends_its_upload(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await room(storage, "r", [alice])
    await room(storage, "closing", [alice])
    for uid in ("u1", "u2"):
        await storage.add_upload(upload(uid, alice.id))
    m1, _ = await storage.insert_message(new("r", alice, "", "a1", kind="file", upload_id="u1"))
    await storage.insert_message(new("closing", alice, "", "a2", kind="file", upload_id="u2"))
    await storage.delete_message("r", m1.id, alice.id, moderator=False)
    await storage.delete_room("closing")
    assert await storage.get_upload("u1") is None and await storage.get_upload("u2") is None
    assert await storage.upload_ids() == set()
    # the files whose bytes are still to erase (outside the database), listed by the
    # deleting transactions themselves
    doomed = await storage.doomed_files()
    assert sorted(doomed) == ["u1", "u2"]
    await storage.forget_doomed(doomed)
    assert await storage.doomed_files() == []
