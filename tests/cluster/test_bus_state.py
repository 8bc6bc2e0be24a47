"""Cluster-wide state over Redis: shared limits, presence that survives (and notices) a dead
node, revoked sessions, bus reconnection and health (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from server.cluster import node as node_module
from server.cluster.revoke import publish_revoke
from server.protocol import GENERAL_ROOM, Event
from tests.cluster.bus_helpers import Cluster, chat, crash, node, nodes_fixture, until  # noqa: F401
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.support.services import REDIS_URL


async def test_the_message_rate_limit_is_shared(nodes: Cluster) -> None:
    a, b = await nodes.start(2, rate_limit_messages=4, rate_limit_window_s=600.0)
    on_a = await nodes.connect(a, "alice")
    on_b = await nodes.connect(b, "alice")
    for client in (on_a, on_b, on_a, on_b):
        await client.send(GENERAL_ROOM, "within budget")
    # each node saw two: only the shared count refuses the fifth
    payload = {"room": GENERAL_ROOM, "text": "one too many", "client_id": "over-1"}
    assert await on_b.error(Event.MESSAGE_SEND, payload) == "rate_limited"
    payload["client_id"] = "over-2"
    assert await on_a.error(Event.MESSAGE_SEND, payload) == "rate_limited"


async def test_connections_per_user_are_counted_across_nodes(nodes: Cluster) -> None:
    a, b = await nodes.start(2, max_connections_per_user=2)
    await nodes.connect(a, "alice")
    on_b = await nodes.connect(b, "alice")
    third = ChatTestClient(a.url, ["websocket"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await third.connect({"username": "alice", "password": PASSWORD})
    assert third.connect_error["data"]["code"] == "rate_limited"
    (alice_id,) = chat(a).connections.users()
    await on_b.disconnect()
    # the count went down on every node: a new connection is welcome again
    await until(lambda: alice_id not in node(a).remote_users)
    await nodes.connect(a, "alice")


async def _login(http: aiohttp.ClientSession, url: str, password: str, ip: str) -> int:
    async with http.post(
        f"{url}/api/login",
        json={"username": "alice", "password": password},
        headers={"X-Forwarded-For": ip},
    ) as response:
        return response.status


async def test_failed_logins_are_counted_across_nodes(nodes: Cluster) -> None:
    # user-wide: 10 failures a minute (10 x 1 per address); every attempt from its own address
    a, b = await nodes.start(2, max_failed_logins_per_minute=1, trusted_proxies=["127.0.0.1/32"])
    await nodes.connect(a, "alice")
    async with aiohttp.ClientSession() as http:
        for i in range(10):
            server = a if i % 2 else b
            assert await _login(http, server.url, "wrong password!", f"10.0.0.{i + 1}") == 401
        # node a saw five failures: the shared count refuses a new address
        assert await _login(http, a.url, "wrong password!", "10.0.1.1") == 429
        # an address alice logged in from before still gets in
        assert await _login(http, a.url, PASSWORD, "127.0.0.1") == 200


async def test_login_attempts_per_address_are_counted_across_nodes(nodes: Cluster) -> None:
    a, b = await nodes.start(2, login_attempts_per_ip_per_minute=4)
    await nodes.connect(a, "alice")  # attempt 1 from 127.0.0.1
    async with aiohttp.ClientSession() as http:
        assert await _login(http, a.url, "wrong password!", "ignored") == 401
        assert await _login(http, a.url, "wrong password!", "ignored") == 401
        assert await _login(http, b.url, "wrong password!", "ignored") == 401
        assert await _login(http, b.url, PASSWORD, "ignored") == 429


async def test_a_dead_nodes_users_go_offline_elsewhere(nodes: Cluster) -> None:
    a, b, c = await nodes.start(3)
    alice = await nodes.connect(a, "alice")
    await nodes.connect(c, "carol")
    await nodes.connect(b, "bob")
    await nodes.connect(c, "bob")  # bob is also on b: he stays online
    await alice.wait_for(Event.PRESENCE, lambda p: p["user"] == "carol" and p["state"] == "online")
    await crash(c)
    await alice.wait_for(
        Event.PRESENCE, lambda p: p["user"] == "carol" and p["state"] == "offline", timeout=30
    )
    assert node(a).nodes_gone + node(b).nodes_gone >= 1
    bob_id = next(u for u in chat(b).connections.users())
    assert chat(a).connections.is_online(bob_id)
    assert not [
        p for p in alice.received(Event.PRESENCE) if p == {"user": "bob", "state": "offline"}
    ]
    await until(lambda: len(node(a)._remote) == 1)


async def test_logout_everywhere_cuts_sessions_on_every_node(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    bob_a = await nodes.connect(a, "bob")
    bob_b = await nodes.connect(b, "bob")
    # a connection on b resuming bob_a's token: a plain logout on a ends it too
    same_token = ChatTestClient(b.url, ["websocket"])
    nodes.clients.append(same_token)
    await same_token.connect({"token": bob_a.session["token"]})
    await same_token.wait_for(Event.SESSION)
    await bob_a.ok(Event.SESSION_LOGOUT, {})
    await until(lambda: not same_token.sio.connected)
    assert bob_b.sio.connected

    bob_c = await nodes.connect(a, "bob")
    await bob_c.ok(Event.SESSION_LOGOUT, {"everywhere": True})
    await until(lambda: not bob_b.sio.connected)


async def test_a_node_reconnects_to_the_bus_and_delivers_again(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(b, "bob")
    bus = node(b).bus
    admin = aioredis.from_url(REDIS_URL)
    try:
        # cut node b's Redis connections (only them: other tests share this Redis)
        name = f"{node(b).channel}:{node(b).name}"
        clients = await admin.client_list()
        ids = [c["id"] for c in clients if c.get("name") == name]
        assert ids
        for cid in ids:
            await admin.client_kill_filter(_id=cid)
    finally:
        await admin.aclose()
    await until(lambda: bus.stats.reconnects >= 1 and bus.up)
    sent = await alice.send(GENERAL_ROOM, "after the outage")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    reply = await bob.send(GENERAL_ROOM, "heard you")
    await alice.wait_for(Event.MESSAGE, lambda m: m["id"] == reply["id"])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{b.url}/metrics") as response:
            text = await response.text()
    assert "parley_bus_reconnects_total 1" in text or "parley_bus_reconnects_total 2" in text
    assert "parley_bus_up 1" in text


async def test_without_redis_the_node_serves_locally_and_healthz_fails(
    nodes: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "STARTUP_WAIT_S", 0.2)
    (a,) = await nodes.start(1, redis_url="redis://127.0.0.1:1/0")
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(a, "bob")
    sent = await alice.send(GENERAL_ROOM, "local only")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{a.url}/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert body["status"] == "unavailable" and body["problems"]
        async with http.get(f"{a.url}/metrics") as response:
            text = await response.text()
    assert "parley_bus_up 0" in text


async def test_healthz_and_metrics_of_a_connected_node(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    alice = await nodes.connect(a, "alice")
    bob = await nodes.connect(b, "bob")
    sent = await alice.send(GENERAL_ROOM, "counted")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    await until(lambda: node(b).bus.stats.pings > 0)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{a.url}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{b.url}/metrics") as response:
            text = await response.text()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("parley_bus_") or line.startswith("parley_cluster_")
    }
    assert values["parley_bus_up"] == 1
    assert values["parley_bus_received_total"] >= 1
    assert values["parley_bus_published_total"] >= 1
    assert values["parley_bus_lag_seconds"] >= 0
    assert values["parley_cluster_nodes"] == 2
    assert values["parley_cluster_online_users"] == 2


def test_the_single_process_server_never_loads_the_cluster(tmp_path: object) -> None:
    # (python-socketio itself imports redis when it is installed, for its own managers;
    # what must not happen is a bus, a Redis client or a node in a single process)
    code = (
        "import sys, asyncio, tempfile, pathlib\n"
        "from server.app import create_app\n"
        "from server.config import ServerConfig\n"
        "create_app(ServerConfig(port=0, data_dir=pathlib.Path(tempfile.mkdtemp())))\n"
        "print(sorted(m for m in sys.modules if m.startswith('server.cluster.')))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "['server.cluster.link']"


async def test_an_admin_revocation_from_outside_cuts_every_node(nodes: Cluster) -> None:
    a, b = await nodes.start(2)
    dave_a = await nodes.connect(a, "dave")
    dave_b = await nodes.connect(b, "dave")
    erin = await nodes.connect(b, "erin")
    (dave_id,) = chat(a).connections.users()
    heard = await publish_revoke(REDIS_URL, nodes.prefix, dave_id)
    assert heard == 2
    await until(lambda: not dave_a.sio.connected and not dave_b.sio.connected)
    assert erin.sio.connected
