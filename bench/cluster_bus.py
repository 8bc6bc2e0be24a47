"""Cluster bus benchmark: the fan-out workload on 1 node without Redis, 1 node on the Redis
bus, and 2 nodes on the bus in one process (clients split across them).

Every configuration is one server subprocess (uvloop). Its nodes share one SQLite storage
instance in that process and, with ``--redis``, one Redis key prefix of their own (deleted
afterwards). The load is ``bench/fanout.py``'s raw websocket workers; worker k connects to
node k mod nodes, so with 2 nodes half the clients are on each and every message crosses
the bus once (published by its node, delivered by the other from its own fast path).

What it shows: the cost of the bus per delivery (1 node with vs without Redis), and what a
second node in the *same* process costs or gains (it shares the one core the process gets:
this measures the bus overhead, not scaling; the cluster-harness bench runs real processes).

    python bench/cluster_bus.py                    # N=50, S=5, M=200
    python bench/cluster_bus.py -n 40 -s 4 -m 100 --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fanout  # noqa: E402  (bench/fanout.py: the load generator and the table)

REDIS_URL = os.environ.get("PARLEY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
CONFIGS = {
    "single": (1, False),  # today's single process, no Redis
    "bus1": (1, True),  # one node on the Redis bus
    "bus2": (2, True),  # two nodes on the bus, one process, clients split
}


# --------------------------------------------------------------------------- the server side


async def _serve(ports: list[int], data_dir: str, redis_url: str | None, prefix: str) -> None:
    from server.app import start_server
    from server.config import ServerConfig
    from server.storage.sqlite import SQLiteStorage

    class SharedSQLiteStorage(SQLiteStorage):
        """One storage instance for every node of this process (opened once, closed last)."""

        users = 0

        async def open(self) -> None:
            self.users += 1
            if self.users == 1:
                await super().open()

        async def close(self) -> None:
            self.users -= 1
            if self.users == 0:
                await super().close()

    storage: SharedSQLiteStorage | None = None
    running = []
    for port in ports:
        config = ServerConfig(
            host="127.0.0.1",
            port=port,
            data_dir=Path(data_dir),
            rate_limit_messages=0,
            registrations_per_ip_per_hour=0,
            login_attempts_per_ip_per_minute=0,
            log_level="WARNING",
            redis_url=redis_url,
            redis_prefix=prefix,
        )
        if storage is None:
            storage = SharedSQLiteStorage(config.database_path)
        running.append(await start_server(config, storage))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in reversed(running):
        await server.stop()
    if redis_url:
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def serve_main(args: argparse.Namespace) -> int:
    import logging

    import uvloop

    logging.basicConfig(level=logging.WARNING)
    ports = [int(p) for p in args.ports.split(",")]
    uvloop.run(_serve(ports, args.data_dir, args.redis or None, args.prefix))
    return 0


# --------------------------------------------------------------------------- the load side


def run_config(kind: str, args: argparse.Namespace) -> fanout.RunResult:
    nodes, bus = CONFIGS[kind]
    ports = [fanout.free_port() for _ in range(nodes)]
    tmp = tempfile.TemporaryDirectory(prefix="parley-cluster-bench-", dir=args.data_root)
    argv = [
        sys.executable,
        __file__,
        "--serve",
        "--ports",
        ",".join(map(str, ports)),
        "--data-dir",
        tmp.name,
        "--prefix",
        f"parley-bench-{secrets.token_hex(4)}:",
    ]
    if bus:
        argv += ["--redis", args.redis]
    server = fanout.ServerUnderTest(
        f"{kind} ({nodes} node{'s' if nodes > 1 else ''}{', Redis bus' if bus else ''})",
        argv,
        ports[0],
        tmp,
    )
    server.start()
    try:
        for port in ports[1:]:
            _wait_ready(f"http://127.0.0.1:{port}")
        print(f"{server.label} ...", file=sys.stderr, flush=True)
        load_avg = os.getloadavg()[0]
        result = _run_split_load(server, [f"http://127.0.0.1:{p}" for p in ports], args)
        result.load_avg = load_avg
        return result
    finally:
        server.stop()


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready in {timeout}s")


def _run_split_load(
    server: fanout.ServerUnderTest, urls: list[str], args: argparse.Namespace
) -> fanout.RunResult:
    """``fanout.run_raw_load`` with worker k on ``urls[k % len(urls)]``."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    run_id = os.urandom(3).hex()
    n, s, m, w = args.clients, args.senders, args.messages, args.workers
    senders = fanout._senders(n, s)
    ready, results = ctx.Queue(), ctx.Queue()
    go: dict[str, Any] = {"created": ctx.Event(), "send": ctx.Event()}
    plans = [
        fanout.WorkerPlan(
            urls[k % len(urls)], run_id, list(range(k, n, w)), senders, n, m, args.window
        )
        for k in range(w)
    ]
    procs = [
        ctx.Process(target=fanout.worker_entry, args=(p, ready, go, results), daemon=True)
        for p in plans
    ]
    for p in procs:
        p.start()
    pid = server.proc.pid if server.proc else 0
    try:
        seen_created, connected = False, 0
        while connected < w or not seen_created:
            kind, value = ready.get(timeout=fanout.PHASE_TIMEOUT_S)
            if kind == "error":
                raise RuntimeError(f"client worker failed: {value}")
            seen_created |= kind == "created"
            connected += kind == "connected"
        go["created"].set()
        fanout._wait_phase(ready, "joined", w)
        cpu0 = fanout.process_cpu_seconds(pid)
        go["send"].set()
        outs = [results.get(timeout=fanout.PHASE_TIMEOUT_S * 2) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    server_cpu = fanout.process_cpu_seconds(pid) - cpu0
    start = min(o.send_start for o in outs)
    end = max(o.last_at for o in outs)
    return fanout.RunResult(
        server.label,
        sum(o.received for o in outs),
        s * m * (n - 1),
        end - start,
        [x for o in outs for x in o.latencies_ms],
        [e for o in outs for e in o.errors],
        server_cpu,
        [o.cpu_s for o in outs],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="parley-bench:", help=argparse.SUPPRESS)
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL (PARLEY_BENCH_REDIS)")
    parser.add_argument("-n", "--clients", type=int, default=50)
    parser.add_argument("-s", "--senders", type=int, default=5)
    parser.add_argument("-m", "--messages", type=int, default=200, help="per sender")
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="client processes (even)")
    parser.add_argument("--configs", default="single,bus1,bus2")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    if args.serve:
        return serve_main(args)
    kinds = [k for k in args.configs.split(",") if k]
    load_before = f"{os.getloadavg()[0]:.2f}"
    results: list[fanout.RunResult] = []
    for _ in range(args.repeat):
        for kind in kinds:
            results.append(run_config(kind, args))
    print(
        f"\ncluster bus benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{os.cpu_count()} CPUs ({fanout.cpu_model()}); Python {platform.python_version()}; "
        f"load average before {load_before}, after {os.getloadavg()[0]:.2f}\n"
    )
    print(fanout.table(results, args))
    medians: dict[str, float] = {}
    for label in dict.fromkeys(r.label for r in results):
        medians[label] = statistics.median(r.rate for r in results if r.label == label)
    base = next(iter(medians.values()))
    print()
    for label, rate in medians.items():
        print(f"{label}: {rate:,.0f} deliveries/s, {rate / base:.2f}x the first")
    bad = [e for r in results for e in r.errors] + [
        f"{r.label}: {r.deliveries}/{r.expected}" for r in results if r.deliveries != r.expected
    ]
    for line in bad[:10]:
        print("ERROR", line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
