"""Fan-out benchmark: N clients in one room, S of them send M messages each with acks.

Runs the same workload against Parley (``python -m server``, fresh data dir, rate limit
off, durable: ack after the fsync'd commit), ``bench/bare_relay.py`` (bare python-socketio,
no storage) and ``bench/node_relay.js`` (the official Node socket.io server, default
options, no storage), each server alone in its own subprocess on loopback.

Two load generators:

- ``--load raw`` (default): worker processes speaking Socket.IO v5 over a raw aiohttp
  WebSocket with almost no per-frame work (receivers count ``message`` frames by
  substring), so the server is what is measured. ``--deflate`` makes them offer
  permessage-deflate.
- ``--load node``: worker processes running the official socket.io-client (websocket,
  default options, so deflate is offered), decoding every event like a real client.

Reports per server: deliveries/s (``message`` events received by all clients over the
send phase), ``message:send`` ack p50/p99, server CPU (share of a core and µs per
delivery), the load generators' CPU (busiest worker and all of them: a saturated client
shows here) and the 1-minute load average when the run started.

    npm ci --prefix bench                       # once: the Node server and client
    python bench/fanout.py -s 10                # N=50, S=10, M=200, all three servers
    python bench/fanout.py -s 10 --load node --workers 3
    python bench/fanout.py -n 20 -s 2 -m 100 --servers parley
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
ROOM = "bench"
MARKER = "fanout-"
PASSWORD = "bench password"
PHASE_TIMEOUT_S = 180.0


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerUnderTest:
    """One server subprocess; ``label`` names it in the table."""

    label: str
    argv: list[str]
    port: int
    tmp: tempfile.TemporaryDirectory[str] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"{self.label} exited early:\n{err[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.label} not ready in {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            self.tmp.cleanup()


def parley_server(extra: list[str], data_root: str | None = None) -> ServerUnderTest:
    port = free_port()
    tmp = tempfile.TemporaryDirectory(prefix="parley-bench-", dir=data_root)
    argv = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", tmp.name, "--rate-limit", "0", "--log-level", "WARNING",
            # every bench client registers from 127.0.0.1: no per-address account limit
            "--registrations-per-hour", "0", *extra]
    return ServerUnderTest("Parley", argv, port, tmp)


def relay_server() -> ServerUnderTest:
    port = free_port()
    argv = [sys.executable, str(REPO_ROOT / "bench" / "bare_relay.py"), "--port", str(port)]
    return ServerUnderTest("bare python-socketio relay", argv, port)


BENCH_NODE_MODULES = REPO_ROOT / "bench" / "node_modules"
NPM_HINT = "run `npm ci --prefix bench` once (installs socket.io and socket.io-client)"


def node_server() -> ServerUnderTest:
    if not (BENCH_NODE_MODULES / "socket.io").is_dir():
        raise SystemExit(f"bench/node_modules has no socket.io: {NPM_HINT}")
    port = free_port()
    argv = ["node", str(REPO_ROOT / "bench" / "node_relay.js"), "--port", str(port)]
    return ServerUnderTest("Node socket.io relay", argv, port)


SERVERS = {"parley": None, "relay": relay_server, "node": node_server}


# --------------------------------------------------------------------------- raw client


class RawClient:
    """A minimal Socket.IO v5 client over one WebSocket, cheap enough not to be measured."""

    def __init__(self, http: aiohttp.ClientSession, url: str, username: str,
                 deflate: bool = False) -> None:
        self.http = http
        self.deflate = deflate
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.username = username
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.session: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.expected = 0
        self.received = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self.all_received: asyncio.Event = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.url, max_msg_size=0, autoping=False,
                                             compress=15 if self.deflate else 0)
        opening = await self.ws.receive_str()
        assert opening.startswith("0"), opening
        auth = {"username": self.username, "password": PASSWORD}
        await self.ws.send_str("40" + json.dumps(auth))
        self.reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.session, PHASE_TIMEOUT_S)

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = frame.data
            if data.startswith('42["message",'):
                if MARKER in data:
                    now = time.monotonic()
                    if not self.received:
                        self.first_at = now
                    self.received += 1
                    self.last_at = now
                    if self.received >= self.expected:
                        self.all_received.set()
            elif data == "2":
                await ws.send_str("3")
            elif data.startswith("43"):
                i = 2
                while data[i].isdigit():
                    i += 1
                fut = self.acks.pop(int(data[2:i]), None)
                if fut is not None and not fut.done():
                    fut.set_result(json.loads(data[i:])[0])
            elif data.startswith('42["session",'):
                if not self.session.done():
                    self.session.set_result(json.loads(data[2:])[1])
            elif data.startswith("44"):
                if not self.session.done():
                    self.session.set_exception(RuntimeError(f"refused: {data[2:]}"))
            elif data.startswith("1"):
                break

    async def call(self, event: str, payload: dict[str, Any]) -> Any:
        assert self.ws is not None
        ack_id = self.next_ack
        self.next_ack += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = fut
        await self.ws.send_str(f"42{ack_id}" + json.dumps([event, payload]))
        return await fut

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


# --------------------------------------------------------------------------- workers


@dataclass
class WorkerPlan:
    url: str
    run_id: str
    indices: list[int]      # global client indices this worker owns
    senders: set[int]       # global indices that send
    n_clients: int
    messages: int
    window: int
    deflate: bool = False


@dataclass
class WorkerResult:
    received: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    send_start: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_s: float = 0.0      # this client process's CPU time over the send phase


async def _send_all(client: RawClient, plan: WorkerPlan, idx: int,
                    out: WorkerResult) -> None:
    sem = asyncio.Semaphore(plan.window)

    async def one(i: int) -> None:
        async with sem:
            cid = f"{MARKER}{plan.run_id}-{idx}-{i}"
            t0 = time.monotonic()
            ack = await client.call("message:send", {"room": ROOM, "client_id": cid,
                                                     "text": f"{cid} hello everyone"})
            out.latencies_ms.append((time.monotonic() - t0) * 1000.0)
            if not (isinstance(ack, dict) and ack.get("ok")):
                out.errors.append(f"send {cid}: {ack}")

    if plan.window == 1:
        for i in range(plan.messages):
            await one(i)
    else:
        await asyncio.gather(*(one(i) for i in range(plan.messages)))


async def _worker_main(plan: WorkerPlan, ready: Any, go: Any, results: Any) -> None:
    out = WorkerResult()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        clients: dict[int, RawClient] = {}
        try:
            for idx in plan.indices:
                client = RawClient(http, plan.url, f"b{plan.run_id}_{idx}", plan.deflate)
                await client.connect()
                clients[idx] = client
            if 0 in clients:
                ack = await clients[0].call("room:create", {"name": ROOM})
                if not ack.get("ok"):
                    raise RuntimeError(f"room:create: {ack}")
                ready.put(("created", 0))
        except Exception as exc:  # noqa: BLE001 - reported to the orchestrator
            ready.put(("error", repr(exc)))
            return
        ready.put(("connected", len(clients)))
        # Client 0 (in worker 0) creates the room; everyone else joins once it exists.
        await asyncio.get_running_loop().run_in_executor(None, go["created"].wait)
        for idx, client in clients.items():
            if idx != 0:
                ack = await client.call("room:join", {"room": ROOM})
                if not ack.get("ok"):
                    out.errors.append(f"join {idx}: {ack}")
        n_senders_total = len(plan.senders)
        for idx, client in clients.items():
            own = 1 if idx in plan.senders else 0
            client.expected = (n_senders_total - own) * plan.messages
        ready.put(("joined", len(clients)))
        await asyncio.get_running_loop().run_in_executor(None, go["send"].wait)
        out.send_start = time.monotonic()
        cpu0 = time.process_time()
        sends = [_send_all(c, plan, idx, out) for idx, c in clients.items()
                 if idx in plan.senders]
        waits = [c.all_received.wait() for c in clients.values() if c.expected]
        try:
            await asyncio.wait_for(asyncio.gather(*sends, *waits), PHASE_TIMEOUT_S)
        except TimeoutError:
            out.errors.append("timed out waiting for deliveries")
        out.cpu_s = time.process_time() - cpu0
        for c in clients.values():
            out.received += c.received
            if c.received:
                out.first_at = min(out.first_at or c.first_at, c.first_at)
                out.last_at = max(out.last_at, c.last_at)
        for c in clients.values():
            await c.close()
    results.put(out)


def worker_entry(plan: WorkerPlan, ready: Any, go: Any, results: Any) -> None:
    try:
        import uvloop  # the clients are not measured: make them as cheap as possible

        uvloop.run(_worker_main(plan, ready, go, results))
    except ImportError:
        asyncio.run(_worker_main(plan, ready, go, results))


# --------------------------------------------------------------------------- orchestration


@dataclass
class RunResult:
    label: str
    deliveries: int
    expected: int
    seconds: float
    latencies_ms: list[float]
    errors: list[str]
    server_cpu_s: float
    client_cpu_s: list[float]
    # the server's main thread (its event loop) and its other threads (SQLite writer/reader)
    loop_cpu_s: float = 0.0
    threads_cpu_s: float = 0.0
    load_avg: float = 0.0
    load: str = "raw"

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))]


def _wait_phase(queue: Any, tag: str, workers: int) -> None:
    seen = 0
    while seen < workers:
        kind, value = queue.get(timeout=PHASE_TIMEOUT_S)
        if kind == "error":
            raise RuntimeError(f"client worker failed: {value}")
        if kind == tag:
            seen += 1


def start_profiler(pid: int, path: str | None) -> subprocess.Popen[bytes] | None:
    """Attach ``py-spy record`` (collapsed stacks) to the server for the send phase."""
    if not path:
        return None
    venv_spy = Path(sys.executable).parent / "py-spy"
    spy = shutil.which("py-spy") or str(venv_spy)
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate",
                             "250", "--nonblocking", "-o", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let py-spy attach before the measured phase starts
    return proc


def stop_profiler(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        proc.wait(timeout=60)


def run_workload(server: ServerUnderTest, args: argparse.Namespace,
                 profile: str | None = None) -> RunResult:
    load_avg = os.getloadavg()[0]
    if args.load == "node":
        result = run_node_load(server, args, profile)
    else:
        result = run_raw_load(server, args, profile)
    result.load_avg = load_avg
    result.load = "socket.io-client (node)" if args.load == "node" else (
        "raw, deflate offered" if args.deflate else "raw")
    return result


def _senders(n: int, s: int) -> set[int]:
    # Spread senders across workers so no single client process does all the sending.
    return {round(i * n / s) for i in range(s)}


def run_raw_load(server: ServerUnderTest, args: argparse.Namespace,
                 profile: str | None = None) -> RunResult:
    ctx = mp.get_context("spawn")
    run_id = os.urandom(3).hex()
    n, s, m, w = args.clients, args.senders, args.messages, args.workers
    senders = _senders(n, s)
    ready, results = ctx.Queue(), ctx.Queue()
    go = {"created": ctx.Event(), "send": ctx.Event()}
    plans = [WorkerPlan(server.url, run_id, list(range(k, n, w)), senders, n, m, args.window,
                        args.deflate)
             for k in range(w)]
    procs = [ctx.Process(target=worker_entry, args=(p, ready, go, results), daemon=True)
             for p in plans]
    for p in procs:
        p.start()
    try:
        seen_created = False
        connected = 0
        while connected < w or not seen_created:
            kind, value = ready.get(timeout=PHASE_TIMEOUT_S)
            if kind == "error":
                raise RuntimeError(f"client worker failed: {value}")
            seen_created |= kind == "created"
            connected += kind == "connected"
        go["created"].set()
        _wait_phase(ready, "joined", w)
        profiler = start_profiler(server.proc.pid if server.proc else 0, profile)
        cpu0 = process_cpu_seconds(server.proc.pid if server.proc else 0)
        split0 = thread_cpu_seconds(server.proc.pid if server.proc else 0)
        go["send"].set()
        outs: list[WorkerResult] = [results.get(timeout=PHASE_TIMEOUT_S * 2) for _ in procs]
        split1 = thread_cpu_seconds(server.proc.pid if server.proc else 0)
        stop_profiler(profiler)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    server_cpu = process_cpu_seconds(server.proc.pid if server.proc else 0) - cpu0
    start = min(o.send_start for o in outs)
    end = max(o.last_at for o in outs)
    latencies = [x for o in outs for x in o.latencies_ms]
    errors = [e for o in outs for e in o.errors]
    return RunResult(server.label, sum(o.received for o in outs), s * m * (n - 1),
                     end - start, latencies, errors, server_cpu, [o.cpu_s for o in outs],
                     split1[0] - split0[0], split1[1] - split0[1])


class NodeWorker:
    """One ``node bench/node_load.js`` process, driven line by line."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            ["node", str(REPO_ROOT / "bench" / "node_load.js"), json.dumps(plan)],
            cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def expect(self, word: str) -> str:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"node load worker exited (waiting for {word})")
            line = line.rstrip("\n")
            if line.startswith("error "):
                raise RuntimeError(f"node load worker: {line[6:]}")
            if line.split(" ", 1)[0] == word:
                return line[len(word) + 1:]

    def tell(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.tell("exit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_node_load(server: ServerUnderTest, args: argparse.Namespace,
                  profile: str | None = None) -> RunResult:
    """The same workload with the official socket.io-client in ``--workers`` processes."""
    if not (BENCH_NODE_MODULES / "socket.io-client").is_dir():
        raise SystemExit(f"bench/node_modules has no socket.io-client: {NPM_HINT}")
    run_id = os.urandom(3).hex()
    n, s, m, w = args.clients, args.senders, args.messages, args.workers
    senders = sorted(_senders(n, s))
    base = {"url": server.url, "runId": run_id, "senders": senders, "messages": m,
            "window": args.window, "room": ROOM, "marker": MARKER, "password": PASSWORD}
    # worker 0 (with client 0, the room's creator) starts alone; the rest once it exists
    workers = [NodeWorker({**base, "indices": list(range(0, n, w))})]
    try:
        workers[0].expect("created")
        workers += [NodeWorker({**base, "indices": list(range(k, n, w))}) for k in range(1, w)]
        for worker in workers:
            worker.expect("connected")
        for worker in workers:
            worker.tell("join")
        for worker in workers:
            worker.expect("joined")
        profiler = start_profiler(server.proc.pid if server.proc else 0, profile)
        cpu0 = process_cpu_seconds(server.proc.pid if server.proc else 0)
        for worker in workers:
            worker.tell("send")
        outs = [json.loads(worker.expect("result")) for worker in workers]
        server_cpu = process_cpu_seconds(server.proc.pid if server.proc else 0) - cpu0
        stop_profiler(profiler)
    finally:
        for worker in workers:
            worker.stop()
    start = min(o["send_start"] for o in outs)
    end = max(o["last_at"] for o in outs)
    return RunResult(server.label, sum(o["received"] for o in outs), s * m * (n - 1),
                     end - start, [x for o in outs for x in o["latencies_ms"]],
                     [e for o in outs for e in o["errors"]], server_cpu,
                     [o["cpu_s"] for o in outs])


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (all its threads), from /proc; 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """(main thread, all other threads) user+system CPU of a process, from /proc/PID/task.

    The main thread runs the event loop (handlers, fan-out, socket writes); the others are
    mostly the SQLite writer (inserts, commits) and reader. A thread that ends between the
    two readings drops out, so this is for the send phase, where those threads live on.
    """
    main = other = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if int(tid) == pid:
            main += cpu
        else:
            other += cpu
    return main, other


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def pct(cpu_s: float, wall_s: float) -> str:
    return f"{100.0 * cpu_s / wall_s:.0f}%" if wall_s > 0 else "?"


def table(results: list[RunResult], args: argparse.Namespace) -> str:
    rows = ["| server | load generator | N | S x M | window | deliveries | seconds "
            "| deliveries/s | ack p50 ms | ack p99 ms | server CPU | server µs/delivery "
            "| load gen CPU busiest / all | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.label} | {r.load} x{len(r.client_cpu_s)} | {args.clients} "
                    f"| {args.senders} x {args.messages} "
                    f"| {args.window} | {r.deliveries}/{r.expected} | {r.seconds:.2f} "
                    f"| {r.rate:,.0f} | {r.pct(0.50):.2f} | {r.pct(0.99):.1f} "
                    f"| {pct(r.server_cpu_s, r.seconds)} "
                    f"| {1e6 * r.server_cpu_s / max(r.deliveries, 1):.1f} "
                    f"| {pct(max(r.client_cpu_s, default=0.0), r.seconds)} / "
                    f"{pct(sum(r.client_cpu_s), r.seconds)} | {r.load_avg:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--clients", type=int, default=50)
    parser.add_argument("-s", "--senders", type=int, default=5)
    parser.add_argument("-m", "--messages", type=int, default=200, help="per sender")
    parser.add_argument("--window", type=int, default=1,
                        help="unacked messages each sender may have in flight (1 = wait "
                             "for each ack, like a chat client)")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--servers", default="parley,relay,node",
                        help="comma-separated, from parley, relay, node (default: all three)")
    parser.add_argument("--load", choices=["raw", "node"], default="raw",
                        help="load generator: raw aiohttp websockets, or the official "
                             "socket.io-client in node (offers deflate)")
    parser.add_argument("--deflate", action="store_true",
                        help="raw clients offer permessage-deflate (as browsers do)")
    parser.add_argument("--parley-arg", action="append", default=[],
                        help="extra argument for `python -m server` (repeatable)")
    parser.add_argument("--data-root", default=None,
                        help="where Parley's fresh data dir goes (default: the temp dir; "
                             "/dev/shm shows the server's own latency without disk fsync)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds; servers alternate each round (median ratio reported)")
    parser.add_argument("--profile-dir", default=None,
                        help="record each server with py-spy (collapsed stacks) into this dir")
    args = parser.parse_args(argv)
    if not 0 < args.senders <= args.clients:
        parser.error("need 0 < senders <= clients")

    def profile_path(name: str) -> str | None:
        if not args.profile_dir:
            return None
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(args.profile_dir) / f"{name}.txt")

    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if not kinds or any(k not in SERVERS for k in kinds):
        parser.error(f"--servers takes a comma-separated list from {', '.join(SERVERS)}")
    load_before = f"{os.getloadavg()[0]:.2f}"
    results: list[RunResult] = []
    # Alternate the servers round by round, so background load hits both alike.
    for round_no in range(args.repeat):
        for kind in kinds:
            make = SERVERS[kind]
            server = parley_server(args.parley_arg, args.data_root) if make is None else make()
            server.start()
            try:
                print(f"round {round_no + 1}: {server.label} ...", file=sys.stderr, flush=True)
                suffix = f"-{round_no + 1}" if args.repeat > 1 else ""
                results.append(run_workload(server, args, profile_path(kind + suffix)))
            finally:
                server.stop()

    print(f"\nfan-out benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{os.cpu_count()} CPUs ({cpu_model()}); Python {platform.python_version()}; "
          f"load average before {load_before}, after {os.getloadavg()[0]:.2f}\n")
    print(table(results, args))
    if any(r.loop_cpu_s or r.threads_cpu_s for r in results):
        print("\nserver CPU per message sent (µs): event loop thread / other threads")
        sent = max(args.senders * args.messages, 1)
        for r in results:
            print(f"  {r.label}: {1e6 * r.loop_cpu_s / sent:.0f} / "
                  f"{1e6 * r.threads_cpu_s / sent:.0f}")
    rates: dict[str, list[float]] = {}
    for r in results:
        rates.setdefault(r.label, []).append(r.rate)
    medians = {label: statistics.median(v) for label, v in rates.items()}
    parley = medians.get("Parley")
    if parley:
        print()
        for label, rate in medians.items():
            if label != "Parley" and rate:
                print(f"Parley / {label} deliveries/s (median of {args.repeat}): "
                      f"{parley / rate:.2f}x")
    ok = True
    for r in results:
        for e in r.errors[:5]:
            print(f"! {r.label}: {e}", file=sys.stderr)
        if r.deliveries != r.expected:
            print(f"! {r.label}: {r.deliveries} of {r.expected} deliveries arrived",
                  file=sys.stderr)
        ok = ok and r.deliveries == r.expected and not r.errors
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
