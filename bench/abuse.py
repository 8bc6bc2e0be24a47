"""Abuse benchmark: what a hostile client costs everyone else.

One Parley server (``python -m server``, fresh data dir, default limits, rate limit off so
the bystander's own sends are never refused) runs in a subprocess on loopback. For each
scenario an attacker process runs the abuse for ``--seconds`` while this process runs a
bystander: a signed-in client sending one ``message:send`` every 50 ms and timing its ack.
It reports, per scenario, the bystander's ack p50/p99 and how many acks it got, and the
server's RSS when idle before the abuse vs its peak during it (VmRSS sampled every 50 ms),
plus its peak open fds and what the attacker saw.

Scenarios are plain async functions registered with :func:`scenario`; add yours the same
way (they get an :class:`Attack` and return a dict of notes for the table).

    python bench/abuse.py                       # every scenario, 10 s each
    python bench/abuse.py --only anon-ws-flood --seconds 20
    python bench/abuse.py --list
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password"
ROOM = "general"
BYSTANDER_INTERVAL_S = 0.05


# --------------------------------------------------------------------------- scenarios


@dataclass
class Attack:
    """What a scenario gets: the server's URL and how long to keep going."""

    url: str
    seconds: float
    host: str
    port: int
    deadline: float = 0.0
    # a token of the signed-in user "attacker" (its password was hashed before the idle
    # RSS was taken: argon2's 64 MiB is the cost of a login, not of the abuse)
    token: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def count(self, key: str, n: int = 1) -> None:
        self.notes[key] = self.notes.get(key, 0) + n


Scenario = Callable[[Attack], Awaitable[None]]
SCENARIOS: dict[str, tuple[str, Scenario]] = {}


def scenario(name: str, what: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = (what, fn)
        return fn

    return register


class RawClient:
    """Socket.IO v5 over a raw aiohttp websocket, enough to sign in and call with acks."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 1
        self.reader: asyncio.Task[None] | None = None
        self.token: str | None = None

    async def connect(self, username: str, token: str | None = None) -> None:
        """Sign in with the password, or with ``token`` (no password hash on the server)."""
        self.ws = await self.http.ws_connect(
            f"{self.url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0
        )
        await self.ws.receive()  # OPEN
        auth = {"token": token} if token else {"username": username, "password": PASSWORD}
        await self.ws.send_str("40" + json.dumps(auth))
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"refused: {msg.type} {msg.data!r}")
            if msg.data.startswith("44"):
                raise ConnectionError(msg.data)
            if msg.data.startswith('42["session"'):
                self.token = json.loads(msg.data[2:])[1]["token"]
                break
            if msg.data == "2":
                await self.ws.send_str("3")
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith(("43", "46")):
                i = 2
                if data[1] == "6":  # a binary ack: "46<attachments>-<id>[...]", frames follow
                    i = data.index("-") + 1
                start = i
                while data[i].isdigit():
                    i += 1
                fut = self.acks.pop(int(data[start:i]), None)
                if fut is not None and not fut.done():
                    fut.set_result(data[i:])
        for fut in self.acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))

    async def call(self, event: str, payload: dict[str, Any], timeout: float = 30.0) -> str:
        assert self.ws is not None
        ack_id = self.next_id
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = fut
        await self.ws.send_str(f"42{ack_id}" + json.dumps([event, payload]))
        return str(await asyncio.wait_for(fut, timeout))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


def raise_own_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@scenario("anon-ws-flood", "1,000 anonymous websockets opened and held, never signing in")
async def anon_ws_flood(attack: Attack) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        held: list[aiohttp.ClientWebSocketResponse] = []

        async def one() -> None:
            try:
                ws = await http.ws_connect(f"{attack.url}/socket.io/?EIO=4&transport=websocket")
                held.append(ws)
                attack.count("opened")
                async for _ in ws:  # hold it until the server closes it
                    pass
                attack.count("closed by server")
            except (aiohttp.ClientError, OSError) as exc:
                attack.count(f"refused ({type(exc).__name__})")

        while attack.running():
            tasks = [asyncio.ensure_future(one()) for _ in range(1000)]
            await asyncio.wait(tasks, timeout=max(0.1, attack.deadline - time.monotonic()))
            for t in tasks:
                t.cancel()
            for ws in held:
                await ws.close()
            held.clear()


@scenario("anon-big-frames", "anonymous websockets each sending one 14 MB frame, repeatedly")
async def anon_big_frames(attack: Attack) -> None:
    frame = "42" + json.dumps(["rooms:list", {"x": "y" * (14 << 20)}])
    async with aiohttp.ClientSession() as http:

        async def one() -> None:
            while attack.running():
                try:
                    ws = await http.ws_connect(f"{attack.url}/socket.io/?EIO=4&transport=websocket")
                except (aiohttp.ClientError, OSError):
                    attack.count("handshake refused")
                    continue
                try:
                    await ws.send_str(frame)
                    async for _ in ws:
                        pass
                    attack.count("frames sent, then closed by server")
                except (aiohttp.ClientError, OSError):
                    attack.count("cut by server while sending")

        await asyncio.gather(*(one() for _ in range(5)))


@scenario("polling-post-leak", "polling POSTs announcing 20 MB, sending 512 KB, then closing")
async def polling_post_leak(attack: Attack) -> None:
    chunk = b"x" * (512 * 1024)
    async with aiohttp.ClientSession() as http:

        async def one() -> None:
            while attack.running():
                try:
                    async with http.get(f"{attack.url}/socket.io/?EIO=4&transport=polling") as r:
                        text = await r.text()
                    if not text.startswith("0"):
                        attack.count(f"handshake {r.status}")
                        continue
                    sid = json.loads(text[1:])["sid"]
                    reader, writer = await asyncio.open_connection(attack.host, attack.port)
                    writer.write(
                        f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                        f"Host: x\r\nContent-Length: {20 << 20}\r\n\r\n".encode() + chunk
                    )
                    try:
                        await writer.drain()
                        line = await asyncio.wait_for(reader.readline(), 5)
                        attack.count(f"answered {line[9:12].decode() or 'nothing'}")
                    except (TimeoutError, OSError):
                        attack.count("no answer")
                    writer.close()
                except (aiohttp.ClientError, OSError):
                    attack.count("refused")

        await asyncio.gather(*(one() for _ in range(20)))


@scenario("slow-headers", "500 connections sending request headers one byte a second")
async def slow_headers(attack: Attack) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200

    async def one() -> None:
        while attack.running():
            try:
                reader, writer = await asyncio.open_connection(attack.host, attack.port)
                for i in range(len(head)):
                    writer.write(head[i : i + 1])
                    await writer.drain()
                    if await _closed_within(reader, 1.0):
                        attack.count("closed by server")
                        break
                    if not attack.running():
                        attack.count("still open at the end")
                        break
                writer.close()
            except OSError:
                attack.count("refused")

    await asyncio.gather(*(one() for _ in range(500)))


@scenario("slow-bodies", "500 POST /api/login announcing 10 KB, one byte a second (body "
          "timeout 60 s: held, not closed, within a 10 s run)")
async def slow_bodies(attack: Attack) -> None:
    async def one() -> None:
        while attack.running():
            try:
                reader, writer = await asyncio.open_connection(attack.host, attack.port)
                writer.write(b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 10000\r\n\r\n")
                while True:
                    writer.write(b" ")
                    await writer.drain()
                    if await _closed_within(reader, 1.0):
                        attack.count("closed by server")
                        break
                    if not attack.running():
                        attack.count("still open at the end")
                        break
                writer.close()
            except OSError:
                attack.count("refused")

    await asyncio.gather(*(one() for _ in range(500)))


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(65536), seconds)
    except TimeoutError:
        return False
    return data == b"" or data.startswith(b"HTTP/1.1 4")


@scenario("attachment-flood", "signed in: announce 1,000,000 attachments, then 1 MB frames")
async def attachment_flood(attack: Attack) -> None:
    blob = os.urandom(1 << 20)
    async with aiohttp.ClientSession() as http:
        n = 0
        token = attack.token
        while attack.running():
            client = RawClient(http, attack.url)
            try:
                await client.connect("attacker", token)
                token = client.token
                assert client.ws is not None
                await client.ws.send_str(
                    '451000000-["message:send",{"_placeholder":true,"num":0}]'
                )
                for _ in range(96):
                    await client.ws.send_bytes(blob)
                    attack.count("MB sent")
                attack.count("connections survived 96 MB")
            except (ConnectionError, aiohttp.ClientError, OSError):
                attack.count("connections closed by server")
            await client.close()
            n += 1


def _noise_png(side: int) -> bytes:
    from PIL import Image

    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@scenario("history-flood", "signed in: 300 concurrent message:history on a room of images")
async def history_flood(attack: Attack) -> None:
    async with aiohttp.ClientSession() as http:
        client = RawClient(http, attack.url)
        await client.connect("attacker", attack.token)
        room = "pictures"
        await client.call("room:create", {"name": room})
        # image messages have thumbnails; a history page of them is the heaviest reply
        assert client.ws is not None
        for i in range(60):
            png = _noise_png(320)
            ack_id = client.next_id
            client.next_id += 1
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            client.acks[ack_id] = fut
            payload = {"room": room, "client_id": str(uuid.uuid4()),
                       "image": {"data": {"_placeholder": True, "num": 0}, "name": f"{i}.png"}}
            await client.ws.send_str(f"451-{ack_id}" + json.dumps(["message:send", payload]))
            await client.ws.send_bytes(png)
            await asyncio.wait_for(fut, 30)
        attack.notes["images in room"] = 60
        while attack.running():
            results = await asyncio.gather(
                *(client.call("message:history", {"room": room, "limit": 100}, timeout=60)
                  for _ in range(300)),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, BaseException):
                    attack.count(type(r).__name__)
                elif '"ok":true' in r:
                    attack.count("pages")
                else:
                    attack.count("rate_limited" if "rate_limited" in r else "other error")
            if client.ws is None or client.ws.closed:
                attack.count("disconnected by server")
                await client.close()
                client = RawClient(http, attack.url)
                await client.connect("attacker", attack.token)
        await client.close()


# --------------------------------------------------------------------------- harness


def attacker_entry(name: str, attack: Attack, results: Any) -> None:
    raise_own_fd_limit()
    attack.deadline = time.monotonic() + attack.seconds
    fn = SCENARIOS[name][1]
    try:
        asyncio.run(asyncio.wait_for(fn(attack), attack.seconds + 120))
    except Exception as exc:  # report it in the table, don't hide it
        attack.notes["attacker error"] = repr(exc)[:80]
    results.put(attack.notes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Row:
    name: str
    acks: int
    lost: int
    p50: float
    p99: float
    idle_rss: float
    peak_rss: float
    peak_fds: int
    notes: dict[str, Any]


async def bystander(
    url: str, seconds: float, pid: int, start: Callable[[], None] | None = None
) -> tuple[list[float], int, float, int, float]:
    """Sign in, note the idle RSS, call ``start`` (the attack), then send every 50 ms and
    time each ack while sampling the server's RSS and fds."""
    latencies: list[float] = []
    lost = 0
    peak_rss = 0.0
    peak_fds = 0
    http = aiohttp.ClientSession()
    client = RawClient(http, url)
    await client.connect("bystander")  # its password hash (argon2) is not the attack's cost
    samples = []
    for _ in range(5):
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.05)
    idle = statistics.median(samples)
    if start is not None:
        start()
        await asyncio.sleep(0.5)  # the attacker gets going first
    stop = time.monotonic() + seconds

    async def sample() -> None:
        nonlocal peak_rss, peak_fds
        while time.monotonic() < stop:
            peak_rss = max(peak_rss, rss_mb(pid))
            peak_fds = max(peak_fds, fd_count(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.ensure_future(sample())
    async with http:
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            nonlocal lost
            t0 = time.perf_counter()
            try:
                reply = await client.call(
                    "message:send",
                    {"room": ROOM, "text": "still here?", "client_id": str(uuid.uuid4())},
                    timeout=10,
                )
                if '"ok":true' in reply:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    lost += 1
            except (TimeoutError, ConnectionError):
                lost += 1

        while time.monotonic() < stop:
            task = asyncio.ensure_future(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(BYSTANDER_INTERVAL_S)
        if pending:
            await asyncio.wait(pending, timeout=15)
        await client.close()
    await sampler
    return latencies, lost, peak_rss, peak_fds, idle


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_scenario(name: str, url: str, pid: int, seconds: float) -> Row:
    host, port = url.rsplit("/", 1)[-1].split(":")
    time.sleep(12.0)  # let the previous scenario's sockets reach their auth deadline
    results: Any = mp.get_context("spawn").Queue()
    attack = Attack(url=url, seconds=seconds, host=host, port=int(port), token=login(url))
    proc = mp.get_context("spawn").Process(target=attacker_entry, args=(name, attack, results))
    latencies, lost, peak_rss, peak_fds, idle = asyncio.run(
        bystander(url, seconds, pid, proc.start)
    )
    proc.join(seconds + 60)
    if proc.is_alive():
        proc.kill()
    notes = results.get(timeout=5) if not results.empty() else {"attacker": "no report"}
    return Row(name, len(latencies), lost, percentile(latencies, 0.5),
               percentile(latencies, 0.99), idle, peak_rss, peak_fds, notes)


def login(url: str) -> str:
    request = urllib.request.Request(
        f"{url}/api/login",
        data=json.dumps({"username": "attacker", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(json.load(resp)["token"])


def start_server(
    data_dir: Path, port: int, extra: list[str], root: Path = REPO_ROOT
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--data-dir", str(data_dir),
         "--rate-limit", "0", "--log-level", "WARNING", *extra],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        ),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def table(rows: list[Row], seconds: float) -> str:
    out = [
        f"| scenario ({seconds:.0f} s) | bystander acks (lost) | ack p50 ms | ack p99 ms | "
        "RSS idle MB | RSS peak MB | growth MB | peak fds | attacker saw |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        notes = ", ".join(f"{k}: {v}" for k, v in sorted(r.notes.items()))
        out.append(
            f"| {r.name} | {r.acks} ({r.lost}) | {r.p50:.1f} | {r.p99:.1f} | {r.idle_rss:.0f} | "
            f"{r.peak_rss:.0f} | {r.peak_rss - r.idle_rss:+.0f} | {r.peak_fds} | {notes} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--server-root", type=Path, default=REPO_ROOT,
                        help="checkout whose server to run (e.g. an older commit's worktree)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra flag for parley-server (repeat)")
    args = parser.parse_args(argv)
    if args.list:
        for name, (what, _) in SCENARIOS.items():
            print(f"{name}: {what}")
        return 0
    raise_own_fd_limit()
    names = args.only or list(SCENARIOS)
    data_dir = Path(tempfile.mkdtemp(prefix="parley-abuse-"))
    port = free_port()
    server = start_server(data_dir, port, args.server_arg, args.server_root)
    url = f"http://127.0.0.1:{port}"
    rows: list[Row] = []
    load_before = os.getloadavg()
    try:
        baseline = asyncio.run(bystander(url, args.seconds, server.pid))
        rows.append(Row("(no abuse)", len(baseline[0]), baseline[1],
                        percentile(baseline[0], 0.5), percentile(baseline[0], 0.99),
                        baseline[4], baseline[2], baseline[3], {}))
        for name in names:
            print(f"running {name} …", file=sys.stderr, flush=True)
            rows.append(run_scenario(name, url, server.pid, args.seconds))
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(data_dir, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()}, "
          f"nproc {os.cpu_count()}, load avg {load_before[0]:.1f} before / "
          f"{load_after[0]:.1f} after, server fd limit 1024 soft (raised to hard at start)\n")
    print(table(rows, args.seconds))
    return 0


if __name__ == "__main__":
    random.seed(1)
    raise SystemExit(main())
