"""Presence: online/offline once per connection that shares a room, joined/left per room."""

from __future__ import annotations

from server.protocol import Event
from tests.server.conftest import Connect


async def test_online_and_offline_reach_each_connection_once(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.ok(Event.ROOM_CREATE, {"name": "second"})
    bob = await connect("bob")
    await bob.ok(Event.ROOM_JOIN, {"room": "second"})
    await bob.disconnect()
    await alice.wait_for(Event.PRESENCE, lambda p: p == {"user": "bob", "state": "offline"})

    bob_again = await connect("bob")
    await alice.wait_for(Event.PRESENCE, lambda p: p == {"user": "bob", "state": "online"})
    # a second connection of bob's is not news
    bob_phone = await connect(auth={"token": bob_again.session["token"]})
    await bob_phone.disconnect()
    await bob_again.disconnect()

    def bob_states() -> list[str]:
        return [
            p["state"]
            for p in alice.received(Event.PRESENCE)
            if p.get("user") == "bob" and "room" not in p
        ]

    await alice.wait_for(Event.PRESENCE, lambda _: bob_states().count("offline") == 2)
    # once each although alice and bob share two rooms, and bob_phone was no news
    assert bob_states() == ["online", "offline", "online", "offline"]


async def test_members_show_who_is_online(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    members = (await alice.ok(Event.ROOM_MEMBERS, {"room": "general"}))["members"]
    assert {"name": "bob", "online": True} in members
    await bob.disconnect()
    await alice.wait_for(Event.PRESENCE, lambda p: p == {"user": "bob", "state": "offline"})
    members = (await alice.ok(Event.ROOM_MEMBERS, {"room": "general"}))["members"]
    assert {"name": "bob", "online": False} in members


async def test_operator_notice_reaches_every_connection(server, connect: Connect) -> None:
    from server.http_api import CHAT_KEY

    alice = await connect("alice")
    await alice.ok(Event.ROOM_LEAVE, {"room": "general"})  # in no room at all
    bob = await connect("bob")
    await server.app[CHAT_KEY].broadcast_notice("Maintenance at 22:00", "warning")
    for client in (alice, bob):
        notice = await client.wait_for(Event.NOTICE)
        assert notice == {"text": "Maintenance at 22:00", "level": "warning"}
