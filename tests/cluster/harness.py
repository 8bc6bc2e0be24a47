"""Real processes for the cluster tests: Parley nodes, HAProxy/nginx, private Redis and PostgreSQL.

Every child runs in its own process group with its log in the test's tmp dir; ``stop()``
sends SIGTERM and then SIGKILL to the whole group, and an atexit hook kills whatever a
crashed test left behind, so no run leaks processes. Readiness is polled (``/healthz``, a
PING, a connect), never slept for. Ports are held by a bound, non-listening socket for the
fixture's whole life (``reserve_port``), so a restart gets its port back and a suite running
beside this one cannot take it.

The load balancer configs are the shipped ``deploy/haproxy.cfg`` and ``deploy/nginx.conf``,
rewritten only where a test machine differs (addresses, ports, log and pid paths, the
user); every rewrite must match, so a change to the shipped file cannot silently
bypass the harness.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import csv
import io
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"


def _pg_bin() -> Path:
    """PARLEY_TEST_PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin (15 on bookworm)."""
    if env := os.environ.get("PARLEY_TEST_PG_BIN"):
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

_LIVE: weakref.WeakSet[Child] = weakref.WeakSet()


def _kill_leftovers() -> None:
    for child in list(_LIVE):
        child.kill_now()


atexit.register(_kill_leftovers)


def reserve_port() -> socket.socket:
    """A loopback port held (bound with SO_REUSEADDR, never listening) until closed."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Ports:
    """Reserved ports for one fixture; ``close()`` releases them all."""

    def __init__(self) -> None:
        self._held: list[socket.socket] = []

    def take(self) -> int:
        sock = reserve_port()
        self._held.append(sock)
        return int(sock.getsockname()[1])

    def close(self) -> None:
        for sock in self._held:
            sock.close()
        self._held.clear()


class Child:
    """One child process (and its process group), logging to ``log_path``."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True,
            )
        _LIVE.add(self)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.read_log()}"
            )

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def kill_now(self) -> None:
        """SIGKILL the group and reap it (the crash, and the last resort of teardown)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        _LIVE.discard(self)

    async def kill(self) -> None:
        """SIGKILL: nothing flushed, no goodbye to anyone."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        await self._reap(STOP_TIMEOUT_S)
        self._signal_group(signal.SIGKILL)  # workers the leader left behind
        self.proc = None

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """``sig`` (SIGTERM) to the leader, then SIGKILL to the group if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            if not await self._reap(STOP_TIMEOUT_S):
                logger.warning("%s ignored signal %s; killing it", self.name, sig)
        self._signal_group(signal.SIGKILL)
        await self._reap(STOP_TIMEOUT_S)
        self.proc = None

    async def _reap(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)  # polling a child's exit status, not waiting on time
        _LIVE.discard(self)
        return True

    def read_log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


async def poll_until(check: object, what: str, timeout: float = READY_TIMEOUT_S,
                     alive: Child | None = None) -> None:
    """Await ``check()`` (an async callable returning bool) until true, or raise."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive.check_alive()
        try:
            if await check():  # type: ignore[operator]
                return
        except (TimeoutError, OSError, aiohttp.ClientError):
            pass
        if time.monotonic() > deadline:
            log = alive.read_log() if alive is not None else ""
            raise RuntimeError(f"{what} not ready within {timeout:.0f}s\n{log}")
        await asyncio.sleep(0.05)


async def http_status(url: str, timeout: float = 2.0) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            await resp.read()
            return resp.status


# -- Parley nodes ---------------------------------------------------------------------------


class Node(Child):
    """``python -m server`` on a reserved port; stays on that port across restarts."""

    def __init__(self, name: str, port: int, data_dir: Path, args: Sequence[str]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        for var in ("PARLEY_DATABASE_URL", "PARLEY_REDIS_URL", "PARLEY_REDIS_PREFIX"):
            env.pop(var, None)  # only the flags the test passes
        argv = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
                "--data-dir", str(data_dir), *args]
        super().__init__(name, argv, data_dir / "server.log", env=env, cwd=REPO_ROOT)
        self.port = port
        self.data_dir = data_dir

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def healthy(self) -> bool:
        return await http_status(self.url + "/healthz") == 200

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        await poll_until(self.healthy, f"node {self.name}", timeout, alive=self)

    async def start_ready(self) -> None:
        self.start()
        await self.wait_ready()


def server_flags() -> str:
    """``python -m server --help``: which cluster flags this tree's server has."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "server", "--help"], capture_output=True,
                         text=True, cwd=REPO_ROOT, env=env, timeout=60, check=False)
    return out.stdout


# -- HAProxy and nginx ----------------------------------------------------------------------


def _sub(pattern: str, repl: str, text: str, *, count: int = 0, flags: int = re.M) -> str:
    new, n = re.subn(pattern, repl, text, count=count, flags=flags)
    if n == 0:
        raise AssertionError(f"the shipped config no longer matches {pattern!r}: update the harness")
    return new


def render_haproxy(template: str, port: int, stats_port: int, nodes: Sequence[int]) -> str:
    """deploy/haproxy.cfg for loopback nodes, logging to stdout, no chroot or user switch."""
    text = _sub(r"^(\s*)log /dev/log .*$", r"\1log stdout format raw local0 info", template)
    text = _sub(r"^\s*(chroot|user|group) .*\n", "", text)
    text = _sub(r"^\s*stats socket .*\n", "", text)
    text = _sub(r"^(\s*)bind :80$", rf"\g<1>bind 127.0.0.1:{port}", text)
    text = _sub(r"^(\s*)bind 127\.0\.0\.1:8404$", rf"\g<1>bind 127.0.0.1:{stats_port}", text)
    # short check intervals: the tests wait for state changes, and 2 s steps only slow them
    text = _sub(r"^(\s*default-server) inter 2s ", r"\1 inter 500ms ", text)
    servers = re.findall(r"^(\s*)server node\d+ \S+ (.*)$", text, flags=re.M)
    if not servers:
        raise AssertionError("deploy/haproxy.cfg has no `server nodeN ADDR OPTIONS` lines")
    indent, options = servers[0]
    lines = "".join(f"{indent}server node{i + 1} 127.0.0.1:{p} {options}\n"
                    for i, p in enumerate(nodes))
    text = _sub(r"(^\s*server node\d+ .*\n)+", lines, text, count=1)
    return text


def render_nginx(snippet: str, prefix: Path, port: int, nodes: Sequence[int]) -> str:
    """A whole nginx.conf around deploy/nginx.conf: foreground, tmp paths, loopback nodes."""
    servers = re.findall(r"^(\s*)server \d+\.\d+\.\d+\.\d+:\d+ (.*)$", snippet, flags=re.M)
    if not servers:
        raise AssertionError("deploy/nginx.conf has no `server ADDR:PORT OPTIONS;` lines")
    indent, options = servers[0]
    lines = "".join(f"{indent}server 127.0.0.1:{p} {options}\n" for p in nodes)
    text = _sub(r"(^\s*server \d+\.\d+\.\d+\.\d+:\d+ .*\n)+", lines, snippet, count=1)
    text = _sub(r"^(\s*)listen 80;$", rf"\g<1>listen 127.0.0.1:{port};", text)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the tmp paths
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nmaster_process on;\nworker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp}\n"
        f"{text}\n}}\n"
    )


class LoadBalancer(Child):
    """HAProxy or nginx in the foreground in front of ``node_ports``."""

    def __init__(self, kind: str, workdir: Path, port: int, stats_port: int,
                 node_ports: Sequence[int]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.port = port
        self.stats_port = stats_port
        if kind == "haproxy":
            binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
            conf = workdir / "haproxy.cfg"
            conf.write_text(render_haproxy(
                (DEPLOY / "haproxy.cfg").read_text(), port, stats_port, node_ports))
            argv = [binary, "-db", "-f", str(conf)]
        elif kind == "nginx":
            binary = shutil.which("nginx") or "/usr/sbin/nginx"
            conf = workdir / "nginx.conf"
            conf.write_text(render_nginx(
                (DEPLOY / "nginx.conf").read_text(), workdir, port, node_ports))
            # -e: not even the start-up messages go to the system's error log
            argv = [binary, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]
        else:
            raise ValueError(kind)
        self.conf = conf
        super().__init__(kind, argv, workdir / f"{kind}.out")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def read_log(self, tail: int = 6000) -> str:
        text = super().read_log(tail)
        if self.kind == "nginx":
            with contextlib.suppress(OSError):
                text += (self.log_path.parent / "error.log").read_text(errors="replace")[-tail:]
        return text

    async def server_states(self) -> dict[str, str]:
        """HAProxy's view: node name -> UP/DOWN/... (from the stats page's CSV)."""
        assert self.kind == "haproxy"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.stats_port}/stats;csv") as resp:
                body = await resp.text()
        rows = csv.DictReader(io.StringIO(body.lstrip("# ")))
        return {r["svname"]: r["status"] for r in rows
                if r["pxname"] == "parley_nodes" and r["svname"].startswith("node")}

    async def wait_states(self, want: dict[str, str], timeout: float = READY_TIMEOUT_S) -> None:
        """Until every named node has exactly the wanted state (``UP``, ``DOWN``).

        Exactly: at start HAProxy shows ``UP 1/2`` (not checked yet); ``UP`` means a
        health check passed.
        """

        async def check() -> bool:
            states = await self.server_states()
            return all(states.get(k) == v for k, v in want.items())

        await poll_until(check, f"haproxy states {want}", timeout, alive=self)

    async def wait_ready(self, node_names: Sequence[str]) -> None:
        if self.kind == "haproxy":
            await self.wait_states({name: "UP" for name in node_names})
        else:
            async def check() -> bool:
                return await http_status(self.url + "/healthz") == 200

            await poll_until(check, "nginx", alive=self)


def lb_binary_missing(kind: str) -> str | None:
    if shutil.which(kind) or Path(f"/usr/sbin/{kind}").exists():
        return None
    package = "haproxy" if kind == "haproxy" else "nginx-light"
    return f"{kind} is not installed (apt-get install {package})"


# -- private Redis and PostgreSQL (for faults that must not touch the shared services) ------


class PrivateRedis(Child):
    """``redis-server`` on its own port, nothing persisted: a restart is an empty Redis."""

    def __init__(self, workdir: Path, port: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"]
        super().__init__("redis", argv, workdir / "redis.log")
        self.port = port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def ping(self) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.readline(), 2)).startswith(b"+PONG")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def start_ready(self) -> None:
        self.start()
        await poll_until(self.ping, "private redis", alive=self)


def redis_binary_missing() -> str | None:
    if shutil.which("redis-server") or Path("/usr/bin/redis-server").exists():
        return None
    return "redis-server is not installed (apt-get install redis-server)"


def pg_binary_missing() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL server binaries are not in {PG_BIN} (apt-get install postgresql-15)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot run initdb as the postgres user"
    return None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb into a tmp dir), started and stopped at will.

    Run as the ``postgres`` user when we are root, since the server refuses to run as root.
    """

    port: int
    root: Path

    def __post_init__(self) -> None:
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str]) -> None:
        proc = subprocess.run(self._as_owner(argv), capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed:\n{proc.stdout}\n{proc.stderr}\n{self.read_log()}")

    @classmethod
    def create(cls, port: int) -> PrivatePostgres:
        # not under pytest's tmp dir: that is 0700 root, and the server runs as postgres
        root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        pg = cls(port, root)
        pg._run([str(PG_BIN / "initdb"), "-D", str(pg.data), "-U", "postgres",
                 "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
        return pg

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off -c max_connections=200")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                   "-o", opts, "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    async def create_database(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def read_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""
