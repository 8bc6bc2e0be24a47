"""Every event one node emits reaches the connections on the other nodes (issue 12).

Two or three nodes run in this process, each with its own app, port, storage engine and
Redis bus; clients are connected to different nodes.
"""

from __future__ import annotations

import asyncio

from server.protocol import GENERAL_ROOM, Event
from tests.cluster.bus_helpers import Cluster, chat, invalidated, node, nodes_fixture, until  # noqa: F401
from tests.server.helpers import ChatTestClient


def _is(event_user: str, state: str):  # type: ignore[no-untyped-def]
    return lambda d: d.get("user") == event_user and d.get("state") == state


async def test_messages_receipts_typing_and_presence_cross_nodes(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(b, "bob")
    # bob's first connection anywhere: alice (on the other node) sees him come online
    await alice.wait_for(Event.PRESENCE, _is("bob", "online"))

    sent = await alice.send(GENERAL_ROOM, "hello from node a")
    got = await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    assert got["text"] == "hello from node a" and got["sender"] == "alice"

    await bob.ok(Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": sent["id"], "state": "read"})
    status = await alice.wait_for(
        Event.MESSAGE_STATUS, lambda s: s["state"] == "read" and s["up_to"] >= sent["id"]
    )
    assert status["by"] == "bob"

    await bob.ok(Event.TYPING, {"room": GENERAL_ROOM, "typing": True})
    typing = await alice.wait_for(Event.TYPING)
    assert typing == {"room": GENERAL_ROOM, "user": "bob", "typing": True}

    # a second connection of bob, on alice's node, does not announce him again; the last
    # one going does, on every node
    bob2 = await nodes.connect(a, "bob")
    await bob.disconnect()
    await bob2.disconnect()
    await alice.wait_for(Event.PRESENCE, _is("bob", "offline"))
    # (room-less presence is online/offline; joins and leaves name their room)
    seen = [p["state"] for p in alice.received(Event.PRESENCE) if p.get("user") == "bob"]
    assert [s for s in seen if s in ("online", "offline")] == ["online", "offline"]
    # nobody gets their own presence or typing, on any node
    assert not [p for p in bob.received(Event.PRESENCE) if p.get("user") == "bob"]
    assert not bob.received(Event.TYPING)


async def test_edits_reactions_and_user_events_reach_every_node_of_the_user(
    nodes: Cluster,
) -> None:
    a, b, c = await nodes.start(3)
    alice_a = await nodes.connect(a, "alice")
    alice_b = await nodes.connect(b, "alice")
    carol = await nodes.connect(c, "carol")
    msg = await alice_a.send(GENERAL_ROOM, "typo")
    await carol.wait_for(Event.MESSAGE, lambda m: m["id"] == msg["id"])
    # alice's other device, on another node, gets her own message too
    await alice_b.wait_for(Event.MESSAGE, lambda m: m["id"] == msg["id"])

    await alice_a.ok(Event.MESSAGE_EDIT, {"room": GENERAL_ROOM, "id": msg["id"], "text": "fixed"})
    edited = await carol.wait_for(Event.MESSAGE_UPDATED, lambda u: u["message"]["id"] == msg["id"])
    assert edited["message"]["text"] == "fixed"
    await carol.ok(
        Event.REACTION_SET, {"room": GENERAL_ROOM, "id": msg["id"], "emoji": "👍", "on": True}
    )
    for client in (alice_a, alice_b):
        await client.wait_for(
            Event.MESSAGE_UPDATED,
            lambda u: u["message"]["reactions"] == [{"emoji": "👍", "users": ["carol"]}],
        )
    # a receipt processed on node c reaches both of alice's sockets (a, b)
    await carol.ok(Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": msg["id"], "state": "read"})
    for client in (alice_a, alice_b):
        await client.wait_for(Event.MESSAGE_STATUS, lambda s: s["by"] == "carol")

    # an operator notice from node a reaches everyone
    await chat(a).broadcast_notice("maintenance at noon", "warning")
    for client in (alice_a, alice_b, carol):
        notice = await client.wait_for(Event.NOTICE)
        assert notice == {"text": "maintenance at noon", "level": "warning"}


async def test_membership_changes_follow_users_on_other_nodes(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(b, "bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    await alice.ok(Event.ROOM_INVITE, {"room": "secret", "user": "bob"})
    added = await bob.wait_for(Event.ROOM_ADDED, lambda r: r["room"]["id"] == "secret")
    assert added["room"]["kind"] == "private"
    # bob's socket on b entered the room made and joined on a ...
    sent = await alice.send("secret", "for bob")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    # ... and b's room cache knows he is a member: he can send through b
    reply = await bob.send("secret", "got it")
    await alice.wait_for(Event.MESSAGE, lambda m: m["id"] == reply["id"])
    assert invalidated(b) is None or "secret" in invalidated(b)  # type: ignore[operator]

    # a topic change on a: b's cached room has the new topic
    await alice.ok(Event.ROOM_TOPIC, {"room": "secret", "topic": "plans"})
    await bob.wait_for(Event.MESSAGE, lambda m: (m.get("system") or {}).get("event") == "topic")
    rooms = (await bob.ok(Event.ROOMS_LIST))["rooms"]
    assert [r["topic"] for r in rooms if r["id"] == "secret"] == ["plans"]

    # the owner closes it on a: bob hears, and b forgets the room
    await alice.ok(Event.ROOM_CLOSE, {"room": "secret"})
    await bob.wait_for(Event.ROOM_CLOSED, lambda r: r["room"] == "secret")
    assert await bob.error(
        Event.MESSAGE_SEND, {"room": "secret", "text": "x", "client_id": "c1"}
    ) in (
        "not_found",
        "forbidden",
    )


async def test_a_room_change_storm_arrives_in_seq_order_on_every_node(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(b, "bob")
    watch_a = await nodes.connect(a, "watcher")
    watch_b = await nodes.connect(b, "watcher2")
    n = 15

    async def burst(client: ChatTestClient, who: str) -> None:
        for i in range(n):
            await client.send(GENERAL_ROOM, f"{who} {i}")

    await asyncio.gather(burst(alice, "alice"), burst(bob, "bob"))
    for watcher in (watch_a, watch_b):
        await watcher.wait_for(Event.MESSAGE, lambda m: m["text"] in (f"alice {n - 1}",))
        await watcher.wait_for(Event.MESSAGE, lambda m: m["text"] == f"bob {n - 1}")
        seqs = [m["seq"] for m in watcher.received(Event.MESSAGE)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        texts = [m["text"] for m in watcher.received(Event.MESSAGE)]
        assert sum(t.startswith(("alice ", "bob ")) for t in texts) == 2 * n


async def test_a_node_does_not_deliver_its_own_publications_twice(nodes: Cluster) -> None:
    (a,) = await nodes.start(1)
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(a, "bob")
    sent = await alice.send(GENERAL_ROOM, "once")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    # the node's own ping comes back over the bus; by then its message had too
    bus = node(a).bus
    pings = bus.stats.pings
    await until(lambda: bus.stats.pings > pings)
    assert [m["id"] for m in bob.received(Event.MESSAGE)].count(sent["id"]) == 1
    assert bus.stats.published >= 1 and bus.stats.received == 0
