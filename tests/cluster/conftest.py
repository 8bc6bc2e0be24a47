"""The cluster fixture: N real ``parley-server`` processes on PostgreSQL + Redis behind HAProxy/nginx.

``cluster_factory(...)`` starts a cluster and returns a ``Cluster``; everything it started
is stopped at teardown (load balancer, nodes, private services) and the throwaway database
and Redis keys are removed. The shared PostgreSQL and Redis get a throwaway database and a
private key prefix; faults (stopping Redis or PostgreSQL) use private instances, so tests
running at the same time on this machine never notice.

Missing pieces skip with a one-line reason, or fail under ``PARLEY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.cluster_client import ClusterClient
from tests.cluster.harness import (
    LoadBalancer,
    Node,
    Ports,
    PrivatePostgres,
    PrivateRedis,
    lb_binary_missing,
    pg_binary_missing,
    redis_binary_missing,
    server_flags,
)
from tests.support import services


def missing(reason: str) -> None:
    """Skip, or fail where the services are required (CI)."""
    services._missing(reason)


@lru_cache(maxsize=1)
def _flags() -> str:
    return server_flags()


def require_cluster_flags(*flags: str) -> None:
    text = _flags()
    for flag in flags:
        if flag not in text:
            missing(f"parley-server has no {flag} option in this tree")


@dataclass
class Cluster:
    """Running nodes, the load balancer in front (if any) and the services behind them."""

    nodes: list[Node]
    lb: LoadBalancer | None
    database_url: str | None
    redis_url: str | None
    redis: PrivateRedis | None = None
    postgres: PrivatePostgres | None = None
    clients: list[ClusterClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where clients connect: the load balancer, or the only node."""
        return self.lb.url if self.lb is not None else self.nodes[0].url

    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def client(self, username: str, *, via: str | Node | None = None,
               transports: list[str] | None = None, reconnect: bool = False) -> ClusterClient:
        """A client (not connected yet) to the load balancer, or to ``via`` directly."""
        if isinstance(via, Node):
            url = via.url
        else:
            url = via or self.url
        c = ClusterClient(url, username, transports=transports, reconnect=reconnect)
        self.clients.append(c)
        return c

    async def connect(self, username: str, **kw: Any) -> ClusterClient:
        return await self.client(username, **kw).connect()

    async def node_connections(self) -> dict[str, int]:
        """Open Socket.IO connections per node, from each live node's /healthz."""
        import aiohttp

        out: dict[str, int] = {}
        async with aiohttp.ClientSession() as http:
            for node in self.nodes:
                if not node.running:
                    continue
                async with http.get(node.url + "/healthz") as resp:
                    out[node.name] = int((await resp.json())["connections"])
        return out

    def logs(self) -> str:
        parts = [f"--- {n.name} ---\n{n.read_log()}" for n in self.nodes]
        if self.lb is not None:
            parts.append(f"--- {self.lb.kind} ---\n{self.lb.read_log()}")
        return "\n".join(parts)


ClusterFactory = Callable[..., Awaitable[Cluster]]


@pytest.fixture
async def cluster_factory(tmp_path: Path) -> AsyncIterator[ClusterFactory]:
    """``await cluster_factory(nodes=3, lb="haproxy", storage="postgresql", ...)``.

    - ``storage``: ``"postgresql"`` (the shared server, throwaway database), ``"private-pg"``
      (our own PostgreSQL, for outages) or ``"sqlite"`` (each node its own database: not a
      cluster, only what the load balancer does is under test);
    - ``redis``: ``"shared"`` (private key prefix), ``"private"`` (our own redis-server, for
      restarts) or ``None``;
    - ``lb``: ``"haproxy"``, ``"nginx"`` or ``None``;
    - ``rate_limit``: the nodes' ``--rate-limit`` (``"0"`` switches it off for storms).
    """
    stack = contextlib.AsyncExitStack()
    ports = Ports()
    started: list[Cluster] = []

    async def start(nodes: int = 3, lb: str | None = "haproxy", storage: str = "postgresql",
                    redis: str | None = "shared", rate_limit: str = "20/10",
                    extra_args: tuple[str, ...] = ()) -> Cluster:
        if lb is not None and (reason := lb_binary_missing(lb)):
            missing(reason)
        args = ["--rate-limit", rate_limit, "--registrations-per-hour", "0",
                "--trusted-proxy", "127.0.0.1", *extra_args]
        database_url: str | None = None
        redis_url: str | None = None
        private_pg: PrivatePostgres | None = None
        private_redis: PrivateRedis | None = None
        if storage == "postgresql":
            services.require_postgres()
            require_cluster_flags("--database")
            database_url = await stack.enter_async_context(services.throwaway_database())
        elif storage == "private-pg":
            try:
                import asyncpg  # noqa: F401
            except ImportError:
                missing("asyncpg is not installed")
            require_cluster_flags("--database")
            if reason := pg_binary_missing():
                missing(reason)
            private_pg = PrivatePostgres.create(ports.take())
            stack.callback(private_pg.destroy)
            private_pg.start()
            database_url = await private_pg.create_database("parley")
        if storage != "sqlite":
            args += ["--database", database_url or ""]
        if redis == "shared":
            services.require_redis()
            require_cluster_flags("--redis")
            prefix = services.redis_prefix()
            redis_url = services.REDIS_URL
            args += redis_args(redis_url, prefix)
            stack.push_async_callback(services.delete_redis_prefix, redis_url, prefix)
        elif redis == "private":
            require_cluster_flags("--redis")
            if reason := redis_binary_missing():
                missing(reason)
            private_redis = PrivateRedis(tmp_path / f"redis{secrets.token_hex(2)}", ports.take())
            stack.push_async_callback(private_redis.stop)
            await private_redis.start_ready()
            redis_url = private_redis.url
            args += redis_args(redis_url, None)
        base = len(started) * 10
        node_list = [
            Node(f"node{i + 1}", ports.take(), tmp_path / f"node{base + i + 1}", args)
            for i in range(nodes)
        ]
        for node in node_list:
            stack.push_async_callback(node.stop)
        balancer: LoadBalancer | None = None
        if lb is not None:
            balancer = LoadBalancer(lb, tmp_path / f"{lb}{base}", ports.take(), ports.take(),
                                    [n.port for n in node_list])
        cluster = Cluster(node_list, balancer, database_url, redis_url,
                          redis=private_redis, postgres=private_pg)
        for node in node_list:
            node.start()  # all at once: migrations under the advisory lock race for real
        for node in node_list:
            await node.wait_ready()
        if balancer is not None:
            stack.push_async_callback(balancer.stop)
            balancer.start()
            await balancer.wait_ready(cluster.node_names())
        # first at teardown: clients go before the balancer, so none is left reconnecting
        stack.push_async_callback(_disconnect_clients, cluster)
        started.append(cluster)
        return cluster

    try:
        yield start
    finally:
        try:
            await stack.aclose()
        finally:
            ports.close()


def redis_args(url: str, prefix: str | None) -> list[str]:
    """The node flags for a Redis URL and (for the shared Redis) a private key prefix."""
    args = ["--redis", url]
    if prefix is not None and "--redis-prefix" in _flags():
        args += ["--redis-prefix", prefix]
    return args


async def _disconnect_clients(cluster: Cluster) -> None:
    for c in cluster.clients:
        await c.disconnect()


@pytest.fixture
def room_name() -> str:
    return f"r{secrets.token_hex(4)}"


@pytest.fixture
def user_prefix() -> str:
    return f"u{secrets.token_hex(3)}"
