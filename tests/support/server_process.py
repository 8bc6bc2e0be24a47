"""A real Parley server in a child process, for tests that must kill and restart it.

It runs ``python -m server`` on a free loopback port with its own data dir, waits for
``GET /healthz``, and can be killed (SIGKILL: no clean shutdown) or stopped (SIGTERM)
and started again on the same port and data dir.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import weakref
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reserve_port() -> socket.socket:
    """A loopback port held for as long as the returned socket is open.

    The socket is bound with SO_REUSEADDR but never listens, so the server (which binds
    with SO_REUSEADDR too) can listen on the same port, while nothing else can take it:
    not another test's (or test suite's) ``bind(0)`` and not an outgoing connection's
    ephemeral port. Without it the port is free from ``free_port()`` until the child
    binds, and during every restart, and a suite running beside this one could get it.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerProcess:
    """Start/stop a ``python -m server`` child; ``url`` stays the same across restarts."""

    def __init__(self, data_dir: Path, *extra_args: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        if port is None:
            reservation = reserve_port()
            weakref.finalize(self, reservation.close)  # held across every restart
            port = int(reservation.getsockname()[1])
        self.port = port
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 30.0) -> None:
        """Start the server and block until /healthz answers (or raise with its log)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.read_log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if json.load(resp).get("status") == "ok":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready in {ready_timeout}s:\n{self.read_log()}")

    def kill(self) -> None:
        """SIGKILL: the harshest crash, nothing flushed by the server itself."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: a clean shutdown."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""
