"""Abuse benchmark (accounts / media): image bombs and a login burst against a real server.

Runs ``python -m server`` in a child process and, for each scenario, measures:

- the server's **RSS growth**: peak (``VmHWM``, the kernel's high-water mark, so no sample
  is missed) and what stays after (``VmRSS``), against the idle RSS before the scenario;
- a **bystander's ack p99**: a logged-in user sending a text message every 20 ms
  (``message:send`` round trips) while the attack runs.

Scenarios:

- ``webp-bombs``: 4 concurrent 6000x6000 WebP images (a few KB each, 36 MP decoded);
- ``anim-bombs``: 4 concurrent animated WebP images, two 6000x6000 frames each;
- ``png-bombs``: 4 concurrent 6324x6324 RGBA PNG images (39.99 MP, < 40 MP limit);
- ``login-burst``: 150 concurrent password logins of new names (open registration);
- ``rooms-list``: ``rooms:list`` on a server holding 5,000 public rooms (seeded into the
  database before start, one message each): its round trip and ack size.

Goal: RSS growth < 300 MB, bystander p99 < 250 ms. Prints a markdown table.

    python bench/abuse_app.py [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import socketio

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support import server_process  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

PASSWORD = "correct horse battery"
SCENARIOS = ("webp-bombs", "anim-bombs", "png-bombs", "login-burst", "rooms-list")


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def make_bomb(kind: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    if kind == "anim":  # an animated WebP: two 6000x6000 frames
        frames = [Image.new("RGBA", (6000, 6000), c) for c in ((200, 30, 30, 255), (0, 0, 0, 0))]
        frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    elif kind == "webp":
        Image.new("RGB", (6000, 6000), (200, 30, 30)).save(out, format="WEBP", lossless=True)
    else:
        Image.new("RGBA", (6324, 6324), (0, 0, 0, 0)).save(out, format="PNG", optimize=True)
    return out.getvalue()


async def client(url: str, name: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    session = asyncio.get_running_loop().create_future()
    sio.on("session", lambda data: session.done() or session.set_result(data))
    await sio.connect(
        url,
        auth={"username": name, "password": PASSWORD},
        transports=["websocket"],
        wait_timeout=60,
    )
    await asyncio.wait_for(session, 60)
    return sio


class Bystander:
    """Sends a text every 20 ms and records each ack's round trip."""

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self.sio = sio
        self.rtts: list[float] = []
        self.errors: list[Any] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            ack = await self.sio.call(
                "message:send",
                {"room": "general", "client_id": str(uuid.uuid4()), "text": "still here"},
                timeout=60,
            )
            self.rtts.append((time.perf_counter() - t0) * 1000)
            if not ack.get("ok"):
                self.errors.append(ack)
            try:
                await asyncio.wait_for(self._stop.wait(), 0.02)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            await self._task

    def p(self, q: float) -> float:
        if not self.rtts:
            return float("nan")
        return (
            statistics.quantiles(self.rtts, n=100)[int(q) - 1]
            if len(self.rtts) > 1
            else self.rtts[0]
        )


async def bombs(server: ServerProcess, kind: str, count: int) -> dict[str, Any]:
    bomb = make_bomb(kind)
    bystander = Bystander(await client(server.url, f"bystander{kind}"))
    attackers = [await client(server.url, f"bomber{kind}{i}") for i in range(count)]
    pid = server.proc.pid  # type: ignore[union-attr]
    idle = rss_kb(pid, "VmRSS")
    reset_peak(pid)
    bystander.start()
    acks = await asyncio.gather(
        *(
            a.call(
                "message:send",
                {
                    "room": "general",
                    "client_id": str(uuid.uuid4()),
                    "image": {"data": bomb, "name": f"bomb.{kind}"},
                },
                timeout=300,
            )
            for a in attackers
        )
    )
    await bystander.stop()
    peak = rss_kb(pid, "VmHWM")
    after = rss_kb(pid, "VmRSS")
    for s in (bystander.sio, *attackers):
        await s.disconnect()
    codes = [a["error"]["code"] if not a.get("ok") else "ok" for a in acks]
    return {
        "scenario": f"{count} x {kind} bomb ({len(bomb):,} B each)",
        "idle_mb": idle / 1024,
        "peak_growth_mb": (peak - idle) / 1024,
        "after_growth_mb": (after - idle) / 1024,
        "p50": bystander.p(50),
        "p99": bystander.p(99),
        "sends": len(bystander.rtts),
        "outcome": ", ".join(f"{c}x{codes.count(c)}" for c in sorted(set(codes))),
    }


async def login_burst(server: ServerProcess, count: int) -> dict[str, Any]:
    import aiohttp

    bystander = Bystander(await client(server.url, "bystanderlogin"))
    pid = server.proc.pid  # type: ignore[union-attr]
    idle = rss_kb(pid, "VmRSS")
    reset_peak(pid)
    bystander.start()
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> int:
            async with http.post(
                f"{server.url}/api/login", json={"username": f"burst{i}", "password": PASSWORD}
            ) as r:
                return r.status

        statuses = await asyncio.gather(*(one(i) for i in range(count)))
    # a token resume right after the burst
    await bystander.stop()
    peak = rss_kb(pid, "VmHWM")
    after = rss_kb(pid, "VmRSS")
    await bystander.sio.disconnect()
    return {
        "scenario": f"{count} concurrent logins (new names)",
        "idle_mb": idle / 1024,
        "peak_growth_mb": (peak - idle) / 1024,
        "after_growth_mb": (after - idle) / 1024,
        "p50": bystander.p(50),
        "p99": bystander.p(99),
        "sends": len(bystander.rtts),
        "outcome": ", ".join(f"{s}x{statuses.count(s)}" for s in sorted(set(statuses))),
    }


async def seed_rooms(data_dir: Path, count: int) -> None:
    from server.storage.base import NewMessage
    from server.storage.sqlite import SQLiteStorage

    storage = SQLiteStorage(data_dir / "parley.sqlite3")
    await storage.open()
    try:
        for i in range(count):
            await storage.create_room(f"spam{i:05d}", "public", "buy now", None, [])
        await asyncio.gather(
            *(
                storage.insert_message(
                    NewMessage(
                        room=f"spam{i:05d}",
                        sender_id=None,
                        ts=1,
                        kind="system",
                        text="spam created the room",
                        system_event="created",
                        system_user="spam",
                    )
                )
                for i in range(count)
            )
        )
    finally:
        await storage.close()


async def rooms_list(server: ServerProcess, count: int) -> dict[str, Any]:
    import json

    sio = await client(server.url, "viewer")
    rtts, sizes = [], []
    for _ in range(20):
        t0 = time.perf_counter()
        ack = await sio.call("rooms:list", {}, timeout=60)
        rtts.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(json.dumps(ack)))
    await sio.disconnect()
    return {
        "scenario": f"rooms:list with {count:,} public rooms",
        "idle_mb": float("nan"),
        "peak_growth_mb": float("nan"),
        "after_growth_mb": float("nan"),
        "p50": statistics.median(rtts),
        "p99": max(rtts),
        "sends": len(rtts),
        "outcome": f"{len(ack['rooms'])} rooms listed, {statistics.median(sizes) / 1024:.0f} KB",
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--count", type=int, default=4, help="concurrent bombs")
    parser.add_argument("--logins", type=int, default=150)
    parser.add_argument(
        "--server-repo",
        type=Path,
        default=None,
        help="run the server of another checkout (e.g. main, for a before/after comparison)",
    )
    args = parser.parse_args()
    if args.server_repo is not None:
        server_process.REPO_ROOT = args.server_repo.resolve()
    rows = []
    for scenario in args.scenario or SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            # a fresh server per scenario; --rate-limit 0 so only the limits under test act
            server = ServerProcess(Path(tmp), "--rate-limit", "0")
            if scenario == "rooms-list":
                await seed_rooms(Path(tmp), 5000)
            server.start()
            try:
                if scenario == "rooms-list":
                    rows.append(await rooms_list(server, 5000))
                elif scenario == "login-burst":
                    rows.append(await login_burst(server, args.logins))
                else:
                    rows.append(await bombs(server, scenario.split("-")[0], args.count))
            finally:
                server.stop()
    print(f"load average before/after: {os.getloadavg()}")
    print(
        "| scenario | idle RSS | peak growth | growth after | bystander p50 / p99 (sends) | outcome |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['idle_mb']:.0f} MB | {r['peak_growth_mb']:.0f} MB | "
            f"{r['after_growth_mb']:.0f} MB | {r['p50']:.0f} / {r['p99']:.0f} ms ({r['sends']}) "
            f"| {r['outcome']} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
