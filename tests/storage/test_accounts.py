"""Users and tokens, on both backends."""

from __future__ import annotations

from server.storage.base import Storage, User, UserCredentials
from tests.storage.helpers import user


async def test_user_names_are_unique_ignoring_case_and_look_alikes(storage: Storage) -> None:
    alice = await user(storage, "Alice")
    assert await storage.create_user("alice", "h", 1) is None
    assert await storage.create_user("ALICE", "h", 1) is None
    # the same confusable skeleton as an existing name is refused too
    assert await storage.similar_user_exists("a1ice") == await storage.similar_user_exists("Alice")
    assert await storage.similar_user_exists("Alice")
    assert not await storage.similar_user_exists("bob")
    assert await storage.get_user("ALICE") == alice
    assert await storage.get_user("nobody") is None
    assert await storage.get_credentials("aLiCe") == UserCredentials(alice, "hash-Alice")
    assert await storage.get_credentials("nobody") is None
    bob = await user(storage, "bob")
    assert bob.id != alice.id


async def test_set_password_replaces_the_hash(storage: Storage) -> None:
    alice = await user(storage, "alice")
    await storage.set_password(alice.id, "new-hash")
    creds = await storage.get_credentials("alice")
    assert creds is not None and creds.password_hash == "new-hash"


async def test_tokens_expire_and_are_revoked(storage: Storage) -> None:
    alice = await user(storage, "alice")
    bob = await user(storage, "bob")
    await storage.add_token("t1", alice.id, 1000)
    await storage.add_token("t2", alice.id, 5000)
    await storage.add_token("t3", alice.id, 5000)
    await storage.add_token("b1", bob.id, 5000)
    assert await storage.user_for_token("t1", 999) == alice
    assert await storage.user_for_token("t1", 1000) is None  # expired at its instant
    assert await storage.user_for_token("nope", 0) is None
    await storage.delete_token("t2")
    assert await storage.user_for_token("t2", 0) is None
    # every token but the one kept; other users' tokens stay
    assert await storage.delete_user_tokens(alice.id, keep="t3") == 1
    assert await storage.user_for_token("t3", 0) == alice
    assert await storage.delete_user_tokens(alice.id) == 1
    assert await storage.user_for_token("t3", 0) is None
    assert await storage.user_for_token("b1", 0) == User(bob.id, "bob")
    assert await storage.purge_expired_tokens(5000) == 1
    assert await storage.user_for_token("b1", 0) is None
