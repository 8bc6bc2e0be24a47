"""Durability across restarts: a clean stop (SIGTERM) and a crash (SIGKILL).

A real ``python -m server`` child on a temp data dir is filled with users, rooms (public
and private), memberships, a text and an image message and read receipts; then it is
stopped or killed and started again on the same data dir. Token resume, rooms,
memberships, history (ids and receipts), unread counts and the image's exact bytes must
all survive, and every message that was acked before a SIGKILL must still be there.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from PIL import Image

from server.protocol import Event
from tests.support.server_process import ServerProcess

PASSWORD = "restart password"
TIMEOUT_S = 15.0
# Generous: a clean shutdown takes well under a second; this only bounds a hang.
SHUTDOWN_GRACE_S = 15.0


class Peer:
    """One python-socketio connection that remembers its ``session``."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.session: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.sio.on(Event.SESSION, self._on_session)

    async def _on_session(self, data: dict[str, Any]) -> None:
        if not self.session.done():
            self.session.set_result(data)

    @classmethod
    async def connect(cls, url: str, auth: dict[str, str]) -> Peer:
        peer = cls()
        await peer.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
        await asyncio.wait_for(peer.session, TIMEOUT_S)
        return peer

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, payload, timeout=TIMEOUT_S)
        return ack

    async def ok(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await self.call(event, payload)
        assert ack["ok"] is True, (event, payload, ack)
        return ack

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (90, 60), (200, 40, 90)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", "--rate-limit", "0")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    """Every Peer a test opens, closed at the end whatever happened."""
    opened: list[Peer] = []
    yield opened
    for peer in opened:
        await peer.close()


async def restart(server: ServerProcess, how: str) -> None:
    if how == "sigkill":
        await asyncio.to_thread(server.kill)
    else:
        await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_everything_survives_a_restart(
    server: ServerProcess, peers: list[Peer], how: str
) -> None:
    url = server.url
    alice = await Peer.connect(url, {"username": "alice", "password": PASSWORD})
    bob = await Peer.connect(url, {"username": "bob", "password": PASSWORD})
    peers += [alice, bob]
    alice_token = (await alice.session)["token"]
    bob_token = (await bob.session)["token"]

    await alice.ok(Event.ROOM_CREATE, {"name": "proj", "topic": "the project"})
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    await alice.ok(Event.ROOM_INVITE, {"room": "secret", "user": "bob"})
    await bob.ok(Event.ROOM_JOIN, {"room": "proj"})
    text = (
        await alice.ok(
            Event.MESSAGE_SEND, {"room": "proj", "client_id": "t-1", "text": "before the restart"}
        )
    )["message"]
    image_bytes = png_bytes()
    image = (
        await alice.ok(
            Event.MESSAGE_SEND,
            {
                "room": "proj",
                "client_id": "i-1",
                "text": "a picture",
                "image": {"data": image_bytes, "name": "pic.png"},
            },
        )
    )["message"]
    secret = (
        await alice.ok(
            Event.MESSAGE_SEND, {"room": "secret", "client_id": "s-1", "text": "just us"}
        )
    )["message"]
    await bob.ok(Event.MESSAGE_RECEIPT, {"room": "proj", "id": text["id"], "state": "read"})
    await bob.ok(
        Event.MESSAGE_RECEIPT, {"room": "secret", "id": secret["id"], "state": "delivered"}
    )
    before = (await bob.ok(Event.ROOMS_LIST, {}))["rooms"]
    await alice.close()
    await bob.close()

    await restart(server, how)

    # Tokens resume; passwords still work too.
    alice = await Peer.connect(url, {"token": alice_token})
    bob = await Peer.connect(url, {"token": bob_token})
    peers += [alice, bob]
    assert (await alice.session)["user"]["name"] == "alice"
    assert (await bob.session)["user"]["name"] == "bob"

    # Rooms, memberships and unread counts.
    rooms = {r["id"]: r for r in (await bob.ok(Event.ROOMS_LIST, {}))["rooms"]}
    assert {"general", "proj", "secret"} <= set(rooms)
    assert rooms["proj"]["joined"] and rooms["secret"]["joined"]
    assert rooms["proj"]["topic"] == "the project"
    assert rooms["proj"]["unread"] == 1  # the image, after bob's read marker
    assert rooms["secret"]["unread"] >= 1  # delivered is not read
    assert rooms["secret"]["kind"] == "private" and rooms["secret"]["owner"] == "alice"
    assert {r["id"]: r["unread"] for r in before} == {r: rooms[r]["unread"] for r in rooms}
    carol = await Peer.connect(url, {"username": "carol", "password": PASSWORD})
    peers.append(carol)
    members = (await alice.ok(Event.ROOM_MEMBERS, {"room": "secret"}))["members"]
    assert {m["name"] for m in members} == {"alice", "bob"}
    assert "secret" not in {r["id"] for r in (await carol.ok(Event.ROOMS_LIST, {}))["rooms"]}

    # History with the same ids, and receipts as seen by the sender.
    history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": "proj"}))["messages"]
    by_id = {m["id"]: m for m in history}
    assert by_id[text["id"]]["text"] == "before the restart"
    assert by_id[text["id"]]["receipts"] == {"delivered": 1, "read": 1, "of": 1}
    assert by_id[image["id"]]["image"]["id"] == image["image"]["id"]
    assert by_id[image["id"]]["receipts"]["read"] == 0
    secret_history = (await alice.ok(Event.MESSAGE_HISTORY, {"room": "secret"}))["messages"]
    secret_msg = next(m for m in secret_history if m["id"] == secret["id"])
    assert secret_msg["receipts"] == {"delivered": 1, "read": 0, "of": 1}

    # The image's exact bytes.
    media = await bob.ok(Event.MEDIA_GET, {"id": image["image"]["id"]})
    assert media["data"] == image_bytes and media["mime"] == "image/png"

    # Idempotency survives: the same client_id answers the stored message.
    again = (
        await alice.ok(
            Event.MESSAGE_SEND, {"room": "proj", "client_id": "t-1", "text": "before the restart"}
        )
    )["message"]
    assert again["id"] == text["id"]
    # Ids keep increasing after the restart.
    new = (
        await alice.ok(Event.MESSAGE_SEND, {"room": "proj", "client_id": "t-2", "text": "after"})
    )["message"]
    assert new["id"] > max(text["id"], image["id"], secret["id"])


async def test_every_acked_message_survives_sigkill_mid_burst(
    server: ServerProcess, peers: list[Peer]
) -> None:
    """Kill the server while sends are still in flight: whatever was acked is stored."""
    alice = await Peer.connect(server.url, {"username": "alice", "password": PASSWORD})
    peers.append(alice)
    acked: list[int] = []
    enough = asyncio.Event()

    async def send(i: int) -> None:
        try:
            ack = await alice.call(
                Event.MESSAGE_SEND,
                {"room": "general", "client_id": f"burst-{i}", "text": f"burst {i}"},
            )
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            return  # in flight when the server died: may or may not be stored
        if ack.get("ok"):
            acked.append(ack["message"]["id"])
            if len(acked) >= 20:
                enough.set()

    tasks = [asyncio.create_task(send(i)) for i in range(200)]
    await asyncio.wait_for(enough.wait(), TIMEOUT_S * 2)
    await asyncio.to_thread(server.kill)
    for task in tasks:  # no ack can come from a dead server: stop waiting for them
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await alice.close()
    await asyncio.to_thread(server.start)

    alice = await Peer.connect(server.url, {"username": "alice", "password": PASSWORD})
    peers.append(alice)
    stored: set[int] = set()
    page = await alice.ok(Event.MESSAGE_HISTORY, {"room": "general", "limit": 100})
    while True:
        stored |= {m["id"] for m in page["messages"]}
        if not page["has_more"]:
            break
        page = await alice.ok(
            Event.MESSAGE_HISTORY,
            {"room": "general", "limit": 100, "before": page["messages"][0]["id"]},
        )
    missing = sorted(set(acked) - stored)
    assert len(acked) >= 20
    assert not missing, f"{len(missing)} acked messages lost by SIGKILL: {missing[:10]}"


VANISHING_CLIENT = """
import asyncio, sys
import socketio

async def main() -> None:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(sys.argv[1], auth={"username": "ghost", "password": "ghost password"},
                      transports=["websocket"], wait_timeout=10)
    print("connected", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def polling_session_then_vanish(url: str) -> None:
    """Open an engine.io long-polling session, log in, then simply stop polling.

    That is what a browser tab or a Node client that exits right after ``disconnect()``
    leaves behind: a session with no pending GET that will never fetch again.
    """
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(base, timeout=TIMEOUT_S) as resp:
        opening = resp.read().decode()
    assert opening.startswith("0"), opening
    sid = json.loads(opening[1:])["sid"]
    auth = json.dumps({"username": "ghost", "password": "ghost password"})
    post = urllib.request.Request(
        f"{base}&sid={sid}",
        data=f"40{auth}".encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(post, timeout=TIMEOUT_S) as resp:
        assert resp.read().lower() == b"ok"
    received = ""
    while '"session"' not in received:
        with urllib.request.urlopen(f"{base}&sid={sid}", timeout=TIMEOUT_S) as resp:
            received += resp.read().decode()
    # ...and never poll again.


async def vanish(server: ServerProcess, transport: str) -> None:
    if transport == "polling":
        await asyncio.to_thread(polling_session_then_vanish, server.url)
        return
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", VANISHING_CLIENT, server.url, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT_S)
    assert line.strip() == b"connected"
    child.kill()  # gone without a goodbye
    await child.wait()


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_sigterm_exits_cleanly_while_a_vanished_client_is_connected(
    server: ServerProcess, transport: str
) -> None:
    """A client that went away without a goodbye must not stall shutdown.

    SIGTERM must end the server by itself (exit 0), not by ServerProcess's SIGKILL
    fallback. Bug seen with polling: the shutdown hook ``sio.eio.disconnect()`` awaits
    each socket's ``close()``, which waits for its queue to be drained by a GET that a
    vanished long-polling client never sends.
    """
    await vanish(server, transport)
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    try:
        returncode = await asyncio.to_thread(proc.wait, SHUTDOWN_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        await asyncio.to_thread(proc.wait)
        pytest.fail(
            f"SIGTERM did not stop the server within {SHUTDOWN_GRACE_S}s with a "
            f"vanished {transport} client; log:\n{server.read_log()}"
        )
    assert returncode == 0, server.read_log()
