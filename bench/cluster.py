"""Cluster fan-out benchmark: the same load against one SQLite node and against N-node clusters.

Every configuration runs in the same invocation with the same load (``bench/fanout.py``'s
raw websocket clients: N clients in one room, S senders, M messages each, one ack at a
time per sender), one after another, alternating round by round:

- ``single``: one node on SQLite, clients connect to it directly (today's server);
- ``pgN``: N nodes on PostgreSQL + Redis, clients connect through HAProxy
  (``deploy/haproxy.cfg``), which spreads the websockets over the nodes (``leastconn``).

PostgreSQL and Redis are private instances (``tests/cluster/harness.py``: initdb into a tmp
dir, redis-server without persistence), so the run neither disturbs nor is disturbed by
other users of the machine's services, and their CPU can be counted. Reports deliveries/s,
ack p50/p99, and CPU per part (nodes, HAProxy, PostgreSQL + Redis) as a share of one core.

    python bench/cluster.py                          # single, pg1, pg2, pg3; N=50 S=5 M=1000
    python bench/cluster.py --configs single,pg2 -n 25 --window 10 --repeat 2
    python bench/cluster.py --configs pg2 --profile /tmp/prof   # py-spy of every node

The nodes run with ``--logins-per-minute 0`` (and no message or registration limits): all
the bench's logins come from 127.0.0.1 through HAProxy, and the default per-address limit
(60 a minute, shared by the nodes in Redis) refused the 56th.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench import fanout  # noqa: E402
from tests.cluster.harness import (  # noqa: E402
    LoadBalancer,
    Node,
    Ports,
    PrivatePostgres,
    PrivateRedis,
)

# the bench's own clients all come from 127.0.0.1 (through HAProxy): no per-address limits
NODE_ARGS = ["--rate-limit", "0", "--registrations-per-hour", "0", "--logins-per-minute", "0",
             "--log-level", "WARNING"]


def tree_pids(root: int) -> list[int]:
    """``root`` and every descendant (PostgreSQL's backends are children of the postmaster)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def postmaster_pid(pg: PrivatePostgres) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


@dataclass
class Setup:
    """A running configuration: where clients connect and whose CPU counts."""

    label: str
    url: str
    node_urls: list[str]
    node_pids: list[int]
    lb_pid: int | None
    service_roots: list[int]

    def cpu(self) -> dict[str, float]:
        def total(pids: list[int]) -> float:
            return sum(_cpu_of(p) for p in pids)

        services = [p for root in self.service_roots for p in tree_pids(root)]
        return {"nodes": total(self.node_pids),
                "lb": total([self.lb_pid]) if self.lb_pid else 0.0,
                "services": total(services)}


class Runner:
    """Starts and stops configurations; PostgreSQL and Redis are started once and reused."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = Ports()
        self.pg: PrivatePostgres | None = None
        self.redis: PrivateRedis | None = None
        self.children: list[Node | LoadBalancer] = []

    async def services(self) -> tuple[PrivatePostgres, PrivateRedis]:
        if self.pg is None:
            self.pg = PrivatePostgres.create(self.ports.take())
            self.pg.start()
        if self.redis is None:
            self.redis = PrivateRedis(self.tmp / "redis", self.ports.take())
            await self.redis.start_ready()
        return self.pg, self.redis

    async def start(self, config: str) -> Setup:
        run = secrets.token_hex(3)
        if config == "single":
            node = Node("single", self.ports.take(), self.tmp / f"single-{run}", NODE_ARGS)
            self.children = [node]
            await node.start_ready()
            return Setup("1 node, SQLite, direct", node.url, [node.url], [node.pid], None, [])
        count = int(config.removeprefix("pg"))
        pg, redis = await self.services()
        db = await pg.create_database(f"bench_{run}")
        args = [*NODE_ARGS, "--database", db, "--redis", redis.url]
        nodes = [Node(f"node{i + 1}", self.ports.take(), self.tmp / f"{config}-{run}-{i}", args)
                 for i in range(count)]
        self.children = list(nodes)
        for node in nodes:
            node.start()
        for node in nodes:
            await node.wait_ready()
        roots = [postmaster_pid(pg), redis.pid]
        lb = LoadBalancer("haproxy", self.tmp / f"haproxy-{run}", self.ports.take(),
                          self.ports.take(), [n.port for n in nodes])
        self.children.append(lb)
        lb.start()
        await lb.wait_ready([n.name for n in nodes])
        return Setup(f"{count} node(s), PostgreSQL + Redis, HAProxy", lb.url,
                     [n.url for n in nodes], [n.pid for n in nodes], lb.pid, roots)

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()
        self.children = []

    async def close(self) -> None:
        await self.stop()
        if self.redis is not None:
            await self.redis.stop()
        if self.pg is not None:
            self.pg.destroy()
        self.ports.close()


_cpu_of = fanout.process_cpu_seconds


def run_one(
    setup: Setup, args: argparse.Namespace, tag: str = ""
) -> tuple[fanout.RunResult, dict[str, float]]:
    """fanout's raw load against ``setup.url``; CPU per part over fanout's send phase.

    fanout samples its server's CPU (``process_cpu_seconds``) right before the send phase
    and after the last delivery; for a cluster that sample is every part's CPU instead.
    With ``--profile DIR``, ``py-spy`` records every node over the same phase.
    """
    server = fanout.ServerUnderTest(setup.label, [], int(setup.url.rsplit(":", 1)[1]))
    samples: list[dict[str, float]] = []
    profilers: list[Any] = []

    def sample(pid: int) -> float:
        if pid != 0:
            return _cpu_of(pid)
        if not samples and args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            profilers.extend(
                fanout.start_profiler(p, str(Path(args.profile) / f"{tag}-node{i + 1}.txt"))
                for i, p in enumerate(setup.node_pids)
            )
        samples.append(setup.cpu())
        if len(samples) == 2:
            for prof in profilers:
                fanout.stop_profiler(prof)
        return sum(samples[-1].values())

    fanout.process_cpu_seconds = sample
    try:
        result = fanout.run_workload(server, args)
    finally:
        fanout.process_cpu_seconds = _cpu_of
    first, last = samples[0], samples[-1]
    return result, {k: (last[k] - first[k]) / max(result.seconds, 1e-9) for k in first}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--clients", type=int, default=50)
    parser.add_argument("-s", "--senders", type=int, default=5)
    parser.add_argument("-m", "--messages", type=int, default=1000,
                        help="per sender (200 ran for a quarter of a second: too short)")
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--configs", default="single,pg1,pg2,pg3",
                        help="comma-separated: single, pgN (N nodes behind HAProxy)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", metavar="DIR",
                        help="py-spy (raw collapsed stacks) of every node over the send phase")
    args = parser.parse_args(argv)
    args.load, args.deflate = "raw", False
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    load_before = os.getloadavg()
    rows: list[tuple[fanout.RunResult, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="parley-cluster-bench-") as tmp:
        runner = Runner(Path(tmp))
        loop = asyncio.new_event_loop()
        try:
            for round_no in range(args.repeat):
                for config in configs:
                    print(f"round {round_no + 1}: {config} ...", file=sys.stderr, flush=True)
                    setup = loop.run_until_complete(runner.start(config))
                    try:
                        rows.append(run_one(setup, args, f"{config}-r{round_no + 1}"))
                    finally:
                        loop.run_until_complete(runner.stop())
        finally:
            loop.run_until_complete(runner.close())
            loop.close()

    print(f"\ncluster fan-out benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{os.cpu_count()} CPUs ({fanout.cpu_model()}); Python {platform.python_version()}; "
          f"load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {os.getloadavg()[0]:.2f}\n")
    print(f"N={args.clients} clients in one room, S={args.senders} senders x "
          f"M={args.messages} messages, window {args.window}\n")
    print("| setup | deliveries | seconds | deliveries/s | ack p50 ms | ack p99 ms "
          "| nodes CPU | HAProxy CPU | PG + Redis CPU | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r, cpu in rows:
        print(f"| {r.label} | {r.deliveries}/{r.expected} | {r.seconds:.2f} | {r.rate:,.0f} "
              f"| {r.pct(0.5):.2f} | {r.pct(0.99):.1f} | {100 * cpu['nodes']:.0f}% "
              f"| {100 * cpu['lb']:.0f}% | {100 * cpu['services']:.0f}% | {r.load_avg:.1f} |")
    rates: dict[str, list[float]] = {}
    for r, _ in rows:
        rates.setdefault(r.label, []).append(r.rate)
    medians = {label: statistics.median(v) for label, v in rates.items()}
    base = next((v for k, v in medians.items() if "SQLite" in k), None)
    if base:
        print()
        for label, rate in medians.items():
            if "SQLite" not in label:
                print(f"{label} / 1 node SQLite deliveries/s (medians of "
                      f"{len(rates[label])} runs): {rate / base:.2f}x")
    ok = True
    for r, _ in rows:
        for e in r.errors[:5]:
            print(f"! {r.label}: {e}", file=sys.stderr)
        ok = ok and r.deliveries == r.expected and not r.errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
