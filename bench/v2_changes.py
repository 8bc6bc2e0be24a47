"""Catch-up benchmark: ``message:changes`` over 10,000 changes in one room (protocol v2).

Starts ``python -m server`` (fresh data dir, rate limit off) in a subprocess, fills one room
through the protocol with a mix of changes (new messages, edits, reactions, deletes; 10,000
by default), then a second client that holds nothing catches up from seq 0, page by page
(``limit`` 100, the maximum) while ``has_more``, and again from the middle. Reports the wall
time of each catch-up, changes per second, the page round trip p50/p99 and the server's CPU
time per page, as a markdown table.

    python bench/v2_changes.py                  # 10,000 changes, 3 catch-ups from 0
    python bench/v2_changes.py --changes 50000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.fanout import parley_server  # noqa: E402

PASSWORD = "bench password"
ROOM = "catchup"
WINDOW = 32  # changes in flight while filling (group commit batches them)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(url: str, name: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    session: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sio.on("session", lambda data: session.done() or session.set_result(data))
    await sio.connect(url, auth={"username": name, "password": PASSWORD},
                      transports=["websocket"], wait_timeout=10)
    await asyncio.wait_for(session, 10)
    return sio


async def call(sio: socketio.AsyncClient, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    ack: dict[str, Any] = await sio.call(event, payload, timeout=60)
    if not ack.get("ok"):
        raise RuntimeError(f"{event} {payload}: {ack}")
    return ack


async def fill(sio: socketio.AsyncClient, changes: int) -> int:
    """About half new messages, a fifth edits, a fifth reactions, a tenth deletes."""
    await call(sio, "room:create", {"name": ROOM})
    plan: list[str] = []
    for i in range(changes - 1):  # the room's "created" line is the first change
        plan.append(["send", "send", "send", "send", "send", "edit", "edit", "react", "react",
                     "delete"][i % 10])
    # edits and reactions go to one pool of messages, deletes take from another, so no
    # change ever meets a deleted message (each would be a conflict, not a change)
    kept: list[int] = []
    doomed: list[int] = []
    sem = asyncio.Semaphore(WINDOW)
    emoji = ["👍", "🎉", "❤️", "😂", "🚀"]

    async def one(kind: str, i: int) -> None:
        async with sem:
            if kind == "send" or not kept or (kind == "delete" and not doomed):
                ack = await call(sio, "message:send", {"room": ROOM, "client_id": str(uuid.uuid4()),
                                                       "text": f"message {i} " + "x" * 60})
                (kept if i % 2 else doomed).append(ack["message"]["id"])
            elif kind == "edit":
                await call(sio, "message:edit", {"room": ROOM, "id": kept[i % len(kept)],
                                                 "text": f"edited {i}"})
            elif kind == "react":
                await call(sio, "reaction:set", {"room": ROOM, "id": kept[-1 - i % len(kept)],
                                                 "emoji": emoji[i % 5], "on": True})
            else:
                await call(sio, "message:delete", {"room": ROOM, "id": doomed.pop()})

    # in rounds, so later edits and reactions find messages that exist
    for start in range(0, len(plan), 500):
        await asyncio.gather(*(one(k, start + j) for j, k in enumerate(plan[start:start + 500])))
    # a reaction the user already had changed nothing: top up with messages to the target
    seq = await room_seq(sio)
    await asyncio.gather(*(one("send", seq + j) for j in range(changes - seq)))
    return await room_seq(sio)


async def room_seq(sio: socketio.AsyncClient) -> int:
    rooms = (await call(sio, "rooms:list", {}))["rooms"]
    return int(next(r["seq"] for r in rooms if r["id"] == ROOM))


async def catch_up(sio: socketio.AsyncClient, since: int, pid: int) -> dict[str, float]:
    trips: list[float] = []
    messages = 0
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        page = await call(sio, "message:changes", {"room": ROOM, "since": since, "limit": 100})
        trips.append(time.perf_counter() - t)
        messages += len(page["messages"])
        if not page["has_more"]:
            break
        since = page["messages"][-1]["seq"]
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    trips.sort()
    return {
        "pages": len(trips),
        "messages": messages,
        "seconds": wall,
        "per_s": messages / wall,
        "p50_ms": 1000 * trips[len(trips) // 2],
        "p99_ms": 1000 * trips[min(len(trips) - 1, int(len(trips) * 0.99))],
        "cpu_ms_per_page": 1000 * cpu / len(trips),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = parley_server([])
    server.start()
    assert server.proc is not None
    try:
        load_before = os.getloadavg()[0]
        writer = await client(server.url, "writer")
        reader = await client(server.url, "reader")
        t0 = time.perf_counter()
        seq = await fill(writer, args.changes)
        fill_s = time.perf_counter() - t0
        await call(reader, "room:join", {"room": ROOM})
        seq += 1  # the reader's own "joined" line
        rows = []
        for _ in range(args.repeat):
            rows.append(("0", await catch_up(reader, 0, server.proc.pid)))
        rows.append((str(seq // 2), await catch_up(reader, seq // 2, server.proc.pid)))
        load_after = os.getloadavg()[0]
        await writer.disconnect()
        await reader.disconnect()
    finally:
        server.stop()
    print(f"\nmessage:changes catch-up, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}; load average before "
          f"{load_before:.2f}, after {load_after:.2f}")
    print(f"room seq {seq} after {args.changes} changes (filled through the protocol in "
          f"{fill_s:.1f} s, {args.changes / fill_s:,.0f} changes/s with {WINDOW} in flight)\n")
    print("| since | pages | messages returned | seconds | messages/s | page p50 ms | "
          "page p99 ms | server CPU ms/page |")
    print("|---|---|---|---|---|---|---|---|")
    for since, r in rows:
        print(f"| {since} | {r['pages']:.0f} | {r['messages']:.0f} | {r['seconds']:.2f} | "
              f"{r['per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['cpu_ms_per_page']:.1f} |")
    medians = statistics.median(r["seconds"] for s, r in rows if s == "0")
    print(f"\nmedian full catch-up from 0: {medians:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
