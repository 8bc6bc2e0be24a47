"""Clients on different nodes of one cluster (PostgreSQL + Redis) chat as if on one server.

Each client connects straight to a chosen node, so every assertion here crosses nodes:
messages, receipts (``message:status``), presence, typing, idempotent resends (also two
nodes racing on one ``client_id``) and the per-user rate limit.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.cluster.cluster_client import ClusterClient
from tests.cluster.conftest import ClusterFactory

pytestmark = pytest.mark.slow


async def _room(owner: ClusterClient, members: list[ClusterClient]) -> str:
    """A private room of ``owner`` with ``members`` invited (each hears it on its node)."""
    room = f"r{uuid.uuid4().hex[:8]}"
    await owner.ok("room:create", {"name": room, "private": True})
    for member in members:
        await owner.ok("room:invite", {"room": room, "user": member.username})
        await member.wait_for("room:added", lambda r: r["room"]["id"] == room)
    return room


async def test_messages_and_receipts_cross_nodes(cluster_factory: ClusterFactory,
                                                 user_prefix: str) -> None:
    cluster = await cluster_factory(nodes=3, lb=None)
    n1, n2, n3 = cluster.nodes
    alice = await cluster.connect(f"{user_prefix}alice", via=n1)
    bob = await cluster.connect(f"{user_prefix}bob", via=n2)
    carol = await cluster.connect(f"{user_prefix}carol", via=n3)
    # alice's second device, on a third node, resumes with her token
    alice_phone = cluster.client(f"{user_prefix}alice", via=n3)
    alice_phone.token = alice.token
    await alice_phone.connect()
    room = await _room(alice, [bob, carol])

    first = await alice.send(room, "hello across nodes")
    for c in (bob, carol, alice_phone):
        got = await c.wait_for("message", lambda m: m["id"] == first["id"])
        assert got["text"] == "hello across nodes" and got["sender"] == alice.username
    second = await bob.send(room, "hi from node 2")
    await alice.wait_for("message", lambda m: m["id"] == second["id"])
    await carol.wait_for("message", lambda m: m["id"] == second["id"])

    # a receipt on node 2 moves alice's status on nodes 1 and 3
    await bob.ok("message:receipt", {"room": room, "id": second["id"], "state": "delivered"})
    for c in (alice, alice_phone):
        status = await c.wait_for("message:status", lambda s: s["by"] == bob.username)
        assert status == {"room": room, "up_to": first["id"], "state": "delivered",
                          "by": bob.username, "count": 1, "of": 2}
    await carol.ok("message:receipt", {"room": room, "id": second["id"], "state": "read"})
    read = await alice.wait_for("message:status",
                                lambda s: s["by"] == carol.username and s["state"] == "read")
    assert read["up_to"] == first["id"] and read["count"] == 1 and read["of"] == 2
    # bob's own message: carol's read reaches him on node 2
    bob_read = await bob.wait_for("message:status", lambda s: s["state"] == "read")
    assert bob_read["up_to"] == second["id"] and bob_read["by"] == carol.username
    # and the stored positions are the same whichever node answers
    hist = (await alice_phone.ok("message:history", {"room": room}))["messages"]
    mine = next(m for m in hist if m["id"] == first["id"])
    assert mine["receipts"] == {"delivered": 2, "read": 1, "of": 2}


async def test_presence_and_typing_cross_nodes(cluster_factory: ClusterFactory,
                                               user_prefix: str) -> None:
    cluster = await cluster_factory(nodes=3, lb=None)
    n1, n2, n3 = cluster.nodes
    alice = await cluster.connect(f"{user_prefix}alice", via=n1)
    carol = await cluster.connect(f"{user_prefix}carol", via=n3)
    bob = await cluster.connect(f"{user_prefix}bob", via=n2)
    for c in (alice, carol):
        await c.wait_for("presence", lambda p: p["user"] == bob.username
                         and p["state"] == "online")
    # membership lists see who is online on any node
    members = (await carol.ok("room:members", {"room": "general"}))["members"]
    online = {m["name"]: m["online"] for m in members}
    assert online[alice.username] and online[bob.username] and online[carol.username]

    # a second connection of bob (another node) is not a second "online"
    bob2 = cluster.client(bob.username, via=n3)
    bob2.token = bob.token
    await bob2.connect()

    await bob.call("typing", {"room": "general", "typing": True})
    for c in (alice, carol):
        await c.wait_for("typing", lambda t: t["user"] == bob.username and t["typing"])
    await bob.call("typing", {"room": "general", "typing": False})
    for c in (alice, carol):
        await c.wait_for("typing", lambda t: t["user"] == bob.username and not t["typing"])

    await bob.disconnect()
    await bob2.disconnect()
    for c in (alice, carol):
        await c.wait_for("presence", lambda p: p["user"] == bob.username
                         and p["state"] == "offline")
        assert [p["state"] for p in c.received("presence") if p["user"] == bob.username
                and p["state"] in ("online", "offline")] == ["online", "offline"]


async def test_idempotent_resends_cross_nodes(cluster_factory: ClusterFactory,
                                              user_prefix: str) -> None:
    cluster = await cluster_factory(nodes=3, lb=None, rate_limit="0")
    n1, n2, n3 = cluster.nodes
    alice = await cluster.connect(f"{user_prefix}alice", via=n1)
    watcher = await cluster.connect(f"{user_prefix}watch", via=n3)
    alice2 = cluster.client(alice.username, via=n2)
    alice2.token = alice.token
    await alice2.connect()

    # a resend after a reconnect to another node answers the stored message
    cid = str(uuid.uuid4())
    first = await alice.send("general", "once", client_id=cid)
    again = await alice2.send("general", "once", client_id=cid)
    assert again["id"] == first["id"] and again["seq"] == first["seq"]

    # two nodes racing on one client_id, many times: one stored message each time
    cids = [str(uuid.uuid4()) for _ in range(20)]
    for c in cids:
        a, b = await asyncio.gather(alice.send("general", c, client_id=c),
                                    alice2.send("general", c, client_id=c))
        assert a["id"] == b["id"], (a, b)
    marker = await alice.send("general", "the end")
    await watcher.wait_for("message", lambda m: m["id"] == marker["id"])
    stored = await watcher.changes_since("general")
    texts = [m["client_id"] for m in stored if m["kind"] == "text"]
    for c in [cid, *cids]:
        assert texts.count(c) == 1, c
    # broadcasts: the watcher got each message exactly once
    live = [m["client_id"] for m in watcher.received("message")]
    for c in [cid, *cids]:
        assert live.count(c) == 1, c


async def test_the_rate_limit_is_shared_by_all_nodes(cluster_factory: ClusterFactory,
                                                     user_prefix: str) -> None:
    # 6 messages a minute: a slow machine cannot stretch the test past the window
    cluster = await cluster_factory(nodes=3, lb=None, rate_limit="6/60")
    alice = await cluster.connect(f"{user_prefix}alice", via=cluster.nodes[0])
    others = []
    for node in cluster.nodes[1:]:
        c = cluster.client(alice.username, via=node)
        c.token = alice.token
        others.append(await c.connect())
    conns = [alice, *others]
    results = []
    for i in range(12):
        ack = await conns[i % 3].call("message:send", {"room": "general", "text": f"m{i}",
                                                       "client_id": str(uuid.uuid4())})
        results.append(ack["ok"] or ack["error"]["code"])
    assert results.count(True) == 6, results
    assert results.count("rate_limited") == 6, results
    # another user is not limited by alice's sends
    bob = await cluster.connect(f"{user_prefix}bob", via=cluster.nodes[1])
    await bob.send("general", "bob is fine")


async def _refused(client: ClusterClient, room: str, code: str) -> None:
    """Sends from ``client`` to ``room`` are refused with ``code``, once the other nodes'
    change has reached its node over the bus (a bounded wait, not a timing assertion)."""
    for _ in range(200):
        payload = {"room": room, "text": "still here?", "client_id": str(uuid.uuid4())}
        ack = await client.call("message:send", payload)
        if not ack.get("ok"):
            assert ack["error"]["code"] == code, ack
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"sends to {room} were never refused")


async def test_a_send_sees_membership_changes_made_on_another_node(
    cluster_factory: ClusterFactory, user_prefix: str
) -> None:
    """A node answers a known member's sends from memory (PostgreSQL's send path): a leave,
    a join and a room closed on another node must reach that memory."""
    cluster = await cluster_factory(nodes=2, lb=None, rate_limit="0")
    n1, n2 = cluster.nodes
    alice = await cluster.connect(f"{user_prefix}alice", via=n1)
    bob = await cluster.connect(f"{user_prefix}bob", via=n2)
    bob_on_n1 = cluster.client(bob.username, via=n1)
    bob_on_n1.token = bob.token
    await bob_on_n1.connect()
    room = f"r{uuid.uuid4().hex[:8]}"
    await alice.ok("room:create", {"name": room})
    await bob_on_n1.ok("room:join", {"room": room})
    await bob.send(room, "remembered on node 2")  # node 2 now knows bob is a member
    await bob_on_n1.ok("room:leave", {"room": room})
    await _refused(bob, room, "forbidden")
    # back in on node 1: node 2 reads the membership again at once
    await bob_on_n1.ok("room:join", {"room": room})
    sent = await bob.send(room, "back again")
    await alice.wait_for("message", lambda m: m["id"] == sent["id"])
    await alice.ok("room:close", {"room": room})
    await _refused(bob, room, "not_found")
