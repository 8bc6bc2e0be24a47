"""How long the desktop client takes to catch up after being away (protocol v2).

A real in-process server; the ChatClient (offscreen Qt, qasync) holds a room, disconnects;
a peer then sends ``--new`` messages and makes ``--edits`` edits and ``--reactions``
reactions to messages the client holds; the client reconnects and the time is taken
until it is connected with every change applied (through ``message:changes``).

    PYTHONPATH=. python bench/client_catch_up.py --new 2000 --edits 500 --reactions 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PARLEY_KEYRING", "file")

import qasync  # noqa: E402
import socketio  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.net.client import ChatClient  # noqa: E402
from server.app import start_server  # noqa: E402
from server.config import ServerConfig  # noqa: E402

PASSWORD = "correct horse battery"


async def peer(url: str, name: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, auth={"username": name, "password": PASSWORD},
                      transports=["websocket"], wait_timeout=30)
    return sio


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="parley-catchup-"))
    server = await start_server(ServerConfig(host="127.0.0.1", port=0, data_dir=root / "srv",
                                             rate_limit_messages=0, log_level="WARNING"))
    url = str(server.url)
    bob = await peer(url, "bob")
    await bob.call("room:join", {"room": "general"})
    held = []
    for i in range(args.held):
        ack = await bob.call("message:send", {"room": "general", "text": f"held {i}",
                                              "client_id": str(uuid.uuid4())})
        held.append(ack["message"]["id"])
    client = ChatClient(root / "client")
    assert await client.connect_to(url, {"username": "alice", "password": PASSWORD})
    while client.messages.get("general", held[-1]) is None:
        await asyncio.sleep(0.05)
    await client.disconnect()
    targets = [m for m in held if client.messages.get("general", m) is not None]
    last_id = 0
    for i in range(args.new):
        ack = await bob.call("message:send", {"room": "general", "text": f"new {i}",
                                              "client_id": str(uuid.uuid4())})
        last_id = ack["message"]["id"]
    for i in range(args.edits):
        await bob.call("message:edit", {"room": "general", "id": targets[i % len(targets)],
                                        "text": f"edited {i}"})
    for i in range(args.reactions):
        await bob.call("reaction:set", {"room": "general", "id": targets[i % len(targets)],
                                        "emoji": f"e{i % 20}", "on": True})
    started = time.perf_counter()
    assert await client.connect_to(url, {"username": "alice", "password": PASSWORD})
    while client.state != "connected" or client.messages.get("general", last_id) is None:
        await asyncio.sleep(0.005)
    took = time.perf_counter() - started
    edited = sum(1 for m in targets if (client.messages.get("general", m) or held).edited_ts)
    load = os.getloadavg()[0]
    print("| new | edits | reactions | held | catch-up (s) | edited rows seen | load avg |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.new} | {args.edits} | {args.reactions} | {len(targets)} | {took:.2f} "
          f"| {edited} | {load:.1f} |")
    await client.disconnect()
    await bob.disconnect()
    await server.stop()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=50)
    parser.add_argument("--new", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=500)
    parser.add_argument("--reactions", type=int, default=500)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main(args))


if __name__ == "__main__":
    run()
