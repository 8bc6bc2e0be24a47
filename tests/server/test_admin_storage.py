"""AdminStorage on both backends: account states, the account event feed, deleting accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.storage.base import Storage
from server.storage.sqlite import SQLiteStorage
from tests.server.admin_helpers import Backend, backend_fixture  # noqa: F401 - ``backend``


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    s: Storage
    if backend.database_url is None:
        s = SQLiteStorage(backend.data_dir / "parley.sqlite3")
    else:
        from server.storage.postgres import PostgresStorage

        s = PostgresStorage(backend.database_url, max_size=2)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_disable_refuses_tokens_and_records_one_event(storage: Storage) -> None:
    alice = await storage.create_user("alice", "hash", 1)
    assert alice is not None
    await storage.add_token("t-alice", alice.id, 10_000)
    start = await storage.latest_account_event()

    assert await storage.set_disabled(alice.id, True, 5) is True
    assert await storage.set_disabled(alice.id, True, 6) is False  # already: no second event
    assert await storage.user_for_token("t-alice", 100) is None
    assert await storage.token_account_state("t-alice", 100) == "disabled"
    assert await storage.token_account_state("t-alice", 20_000) is None  # expired
    creds = await storage.get_credentials("ALICE")
    assert creds is not None and creds.state == "disabled"
    events = await storage.account_events_after(start, 10)
    assert [(e.user_id, e.kind) for e in events] == [(alice.id, "disabled")]
    assert await storage.latest_account_event() == events[-1].id

    assert await storage.set_disabled(alice.id, False, 7) is True
    assert await storage.user_for_token("t-alice", 100) == alice  # enabling keeps the tokens
    assert await storage.latest_account_event() == events[-1].id  # enabling ends nothing


async def test_revoke_and_reset_password_delete_every_token(storage: Storage) -> None:
    alice = await storage.create_user("alice", "old", 1)
    assert alice is not None
    for token in ("a", "b"):
        await storage.add_token(token, alice.id, 10_000)
    assert await storage.revoke_tokens(alice.id, 2) == 2
    await storage.add_token("c", alice.id, 10_000)
    assert await storage.reset_password(alice.id, "new", 3) == 1
    creds = await storage.get_credentials("alice")
    assert creds is not None and creds.password_hash == "new" and creds.state == "active"
    assert await storage.user_for_token("c", 100) is None
    kinds = [e.kind for e in await storage.account_events_after(0, 10)]
    assert kinds[-2:] == ["revoked", "password"]


async def test_delete_keeps_the_name_and_messages_and_hands_rooms_over(storage: Storage) -> None:
    alice = await storage.create_user("alice", "hash", 1)
    bob = await storage.create_user("bob", "hash", 1)
    assert alice is not None and bob is not None
    await storage.add_token("t", alice.id, 10_000)
    assert await storage.create_room("plans", "private", "", alice.id, [alice.id, bob.id])
    assert await storage.create_room("dm:alice:bob", "dm", "", None, [alice.id, bob.id])

    done = await storage.delete_account(alice.id, bob.id, 9)
    assert (done.rooms_left, done.rooms_transferred, done.tokens) == (2, 1, 1)
    await storage.invalidate_rooms(None)
    room = await storage.get_room("plans")
    assert room is not None and room.owner == "bob"
    assert [m.name for m in await storage.members("plans")] == ["bob"]
    assert await storage.get_user("alice") is None  # no invitations, no new DMs
    creds = await storage.get_credentials("alice")
    assert creds is not None and creds.state == "deleted" and creds.password_hash == ""
    assert await storage.create_user("Alice", "hash", 2) is None  # the name stays reserved
    info = await storage.user_info("alice", 100)
    assert info is not None and info.state == "deleted" and info.tokens == 0
    assert await storage.set_disabled(alice.id, False, 10) is False  # deleted stays deleted


async def test_quiet_join_and_last_seen(storage: Storage) -> None:
    carol = await storage.create_user("carol", "hash", 1)
    assert carol is not None
    assert await storage.add_to_room_quietly("general", carol.id, 2) is False  # no such room
    assert await storage.create_room("general", "public", "", None, [])
    assert await storage.add_to_room_quietly("general", carol.id, 3) is True
    assert await storage.add_to_room_quietly("general", carol.id, 4) is False
    assert [e.kind for e in await storage.account_events_after(0, 10)] == ["joined"]
    assert (await storage.user_info("carol", 0)).last_seen_ms is None  # type: ignore[union-attr]
    await storage.note_seen(carol.id, 1234)
    infos = await storage.list_users(0)
    assert [(i.name, i.state, i.last_seen_ms) for i in infos] == [("carol", "active", 1234)]
