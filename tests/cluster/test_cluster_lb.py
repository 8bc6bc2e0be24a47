"""The shipped load balancer configs in front of real nodes: websocket, long-polling, stickiness.

These run the real HAProxy and nginx from Debian's packages on ``deploy/haproxy.cfg`` and
``deploy/nginx.conf``. Stickiness is tested with nodes that share nothing (each its own
SQLite): a long-polling request that reached any node but the session's own would be
answered "invalid session" and drop the client, so a run of many polling round trips with
no disconnect proves every request went home.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import aiohttp
import pytest

from tests.cluster.conftest import ClusterFactory
from tests.cluster.harness import DEPLOY, lb_binary_missing, render_haproxy, render_nginx
from tests.support import services

pytestmark = pytest.mark.slow


def _require(kind: str) -> str:
    reason = lb_binary_missing(kind)
    if reason:
        services._missing(reason)
    path = shutil.which(kind) or f"/usr/sbin/{kind}"
    return path


def test_shipped_haproxy_config_is_valid(tmp_path) -> None:
    haproxy = _require("haproxy")
    # the file as shipped (its log socket, chroot and user may not exist here: -c checks syntax)
    conf = tmp_path / "shipped.cfg"
    conf.write_text(render_haproxy((DEPLOY / "haproxy.cfg").read_text(), 8080, 8404,
                                   [8765, 8766, 8767]))
    proc = subprocess.run([haproxy, "-c", "-f", str(conf)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Configuration file is valid" in proc.stdout + proc.stderr


def test_shipped_nginx_config_is_valid(tmp_path) -> None:
    nginx = _require("nginx")
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx((DEPLOY / "nginx.conf").read_text(), tmp_path, 8080,
                                 [8765, 8766, 8767]))
    proc = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "e.log"),
                           "-c", str(conf)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test is successful" in proc.stderr


@pytest.mark.parametrize("lb", ["haproxy", "nginx"])
@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_chat_through_the_load_balancer(cluster_factory: ClusterFactory, lb: str,
                                              transport: str, user_prefix: str) -> None:
    """One node behind the LB: connect, send, receive, over each transport."""
    cluster = await cluster_factory(nodes=1, lb=lb, storage="sqlite", redis=None)
    alice = await cluster.connect(f"{user_prefix}a", transports=[transport])
    bob = await cluster.connect(f"{user_prefix}b", transports=[transport])
    sent = await alice.send("general", "through the balancer")
    got = await bob.wait_for("message", lambda m: m["id"] == sent["id"])
    assert got["text"] == "through the balancer" and got["sender"] == f"{user_prefix}a"
    # the HTTP API goes through too, and the node saw the forwarded client address chain
    async with aiohttp.ClientSession() as http:
        async with http.get(cluster.url + "/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["connections"] == 2


async def test_polling_sessions_stay_on_their_node(cluster_factory: ClusterFactory,
                                                   user_prefix: str) -> None:
    """HAProxy spreads polling handshakes over 3 nodes and pins every later request to its node.

    The nodes share nothing, so a request routed to another node would kill the session.
    """
    cluster = await cluster_factory(nodes=3, lb="haproxy", storage="sqlite", redis=None)
    clients = [await cluster.connect(f"{user_prefix}p{i}", transports=["polling"])
               for i in range(9)]
    spread = await cluster.node_connections()
    assert sum(spread.values()) == 9
    assert sum(1 for n in spread.values() if n > 0) >= 2, spread  # leastconn spread them

    async def chatter(i: int) -> None:
        c = clients[i]
        for j in range(40):  # each call is a POST and the long-poll GET that carries the ack
            ack = await c.ok("rooms:list", {})
            assert any(r["id"] == "general" for r in ack["rooms"])
            if j % 10 == 0:
                await c.send("general", f"{i}:{j}")

    await asyncio.gather(*(chatter(i) for i in range(len(clients))))
    assert all(c.disconnects == 0 and c.sessions == 1 for c in clients)
    assert await cluster.node_connections() == spread


async def test_polling_upgrades_to_websocket_on_its_node(cluster_factory: ClusterFactory,
                                                         user_prefix: str) -> None:
    """The default client (polling, then the websocket upgrade with ?sid=) lands on one node."""
    cluster = await cluster_factory(nodes=3, lb="haproxy", storage="sqlite", redis=None)
    clients = [await cluster.connect(f"{user_prefix}u{i}", transports=["polling", "websocket"])
               for i in range(6)]
    for c in clients:
        assert (await c.ok("rooms:list", {}))["rooms"]
    assert all(c.sio.transport() == "websocket" for c in clients)
    assert all(c.disconnects == 0 for c in clients)
