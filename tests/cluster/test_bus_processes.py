"""Separate ``parley-server`` processes on one throwaway PostgreSQL database and one Redis
prefix: events cross processes, and a SIGKILLed node's users go offline on the others."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from server.protocol import GENERAL_ROOM, Event
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.support.services import (
    REDIS_URL,
    delete_redis_prefix,
    redis_prefix,
    require_redis,
    throwaway_database,
)

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Processes:
    database: str
    prefix: str
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    clients: list[ChatTestClient] = field(default_factory=list)

    async def start(self) -> str:
        port = _free_port()
        data = self.tmp / f"node{len(self.procs)}"
        argv = [
            sys.executable,
            "-m",
            "server",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--database",
            self.database,
            "--redis",
            REDIS_URL,
            "--redis-prefix",
            self.prefix,
            "--node-ttl",
            "3",
            "--log-level",
            "WARNING",
        ]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):
                while True:
                    assert proc.poll() is None, "parley-server exited at start"
                    try:
                        async with http.get(f"{url}/healthz") as response:
                            if response.status == 200:
                                return url
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)

    async def connect(self, url: str, username: str) -> ChatTestClient:
        client = ChatTestClient(url, ["websocket"])
        self.clients.append(client)
        await client.connect({"username": username, "password": PASSWORD})
        await client.wait_for(Event.SESSION)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.disconnect()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    require_redis()
    prefix = redis_prefix()
    async with throwaway_database() as url:
        ps = Processes(url, prefix, tmp_path)
        try:
            yield ps
        finally:
            await ps.close()
            await delete_redis_prefix(REDIS_URL, prefix)


async def test_events_cross_processes_and_a_killed_nodes_users_go_offline(
    processes: Processes,
) -> None:
    a = await processes.start()
    b = await processes.start()
    c = await processes.start()
    alice = await processes.connect(a, "alice")
    bob = await processes.connect(b, "bob")
    await alice.wait_for(Event.PRESENCE, lambda p: p == {"user": "bob", "state": "online"})
    sent = await alice.send(GENERAL_ROOM, "across processes")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == sent["id"])
    await bob.ok(Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": sent["id"], "state": "read"})
    await alice.wait_for(Event.MESSAGE_STATUS, lambda s: s["by"] == "bob")
    await bob.ok(Event.TYPING, {"room": GENERAL_ROOM, "typing": True})
    await alice.wait_for(Event.TYPING, lambda t: t["user"] == "bob")

    carol = await processes.connect(c, "carol")
    await alice.wait_for(Event.PRESENCE, lambda p: p == {"user": "carol", "state": "online"})
    reply = await carol.send(GENERAL_ROOM, "from c")
    await bob.wait_for(Event.MESSAGE, lambda m: m["id"] == reply["id"])
    processes.procs[2].send_signal(signal.SIGKILL)
    processes.procs[2].wait()
    # no goodbye: a live node finds c's heartbeat expired and announces carol offline
    await alice.wait_for(
        Event.PRESENCE, lambda p: p == {"user": "carol", "state": "offline"}, timeout=30
    )
    await bob.wait_for(
        Event.PRESENCE, lambda p: p == {"user": "carol", "state": "offline"}, timeout=30
    )
    # carol comes back through another node and everyone sees her online again
    await processes.connect(b, "carol")

    def states() -> list[str]:
        return [p["state"] for p in alice.received(Event.PRESENCE) if p.get("user") == "carol"]

    await alice.wait_for(
        Event.PRESENCE, lambda _: states()[-1:] == ["online"] and len(states()) >= 3
    )
    assert [s for s in states() if s in ("online", "offline")] == ["online", "offline", "online"]
