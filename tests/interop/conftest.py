"""Fixtures that run the Node interop scripts against a real Parley server.

The server runs as ``python -m server`` in a child process (``ServerProcess``) with a temp
data dir, and on a throwaway PostgreSQL database under ``PARLEY_TEST_BACKEND=postgres``.
Each script takes ``URL TRANSPORT PREFIX [args]`` and prints one JSON line.
Without Node or ``node_modules`` the tests skip locally, but FAIL under CI
(``CI`` set or ``PARLEY_REQUIRE_NODE=1``), so a broken CI image cannot hide them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TEST_BACKEND
from tests.interop.harness import (
    INTEROP_DIR,
    SCRIPT_TIMEOUT_S,
    NodeRunner,
    missing_node_reason,
    node_required,
    unique_prefix,
)
from tests.support.server_process import ServerProcess
from tests.support.services import throwaway_database


@pytest.fixture(scope="session")
def node_bin() -> str:
    reason = missing_node_reason()
    if reason is not None:
        if node_required():
            pytest.fail(f"interop tests are required here (CI / PARLEY_REQUIRE_NODE=1): {reason}")
        pytest.skip(reason)
    node = shutil.which("node")
    assert node is not None
    return node


@pytest.fixture(scope="session")
def interop_database() -> Iterator[str | None]:
    """Under ``PARLEY_TEST_BACKEND=postgres`` a throwaway database for the interop server
    (the fixture is synchronous: a loop of its own creates and drops it; one loop, not two
    ``asyncio.run``, whose shutdown would finalise the generator and drop it at once)."""
    if TEST_BACKEND != "postgres":
        yield None
        return
    loop = asyncio.new_event_loop()
    database = throwaway_database()
    try:
        url = loop.run_until_complete(database.__aenter__())
        try:
            yield url
        finally:
            loop.run_until_complete(database.__aexit__(None, None, None))
    finally:
        loop.close()


@pytest.fixture(scope="session")
def interop_server(
    tmp_path_factory: pytest.TempPathFactory, interop_database: str | None
) -> Iterator[ServerProcess]:
    extra = [] if interop_database is None else ["--database", interop_database]
    server = ServerProcess(tmp_path_factory.mktemp("interop-server"), *extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def run_node(node_bin: str, interop_server: ServerProcess) -> NodeRunner:
    """``run_node("chat.js", transport, *args)`` -> the script's JSON result."""

    def run(script: str, transport: str, *args: str) -> dict[str, Any]:
        cmd = [node_bin, str(INTEROP_DIR / script), interop_server.url, transport,
               unique_prefix(transport), *args]
        proc = subprocess.run(cmd, cwd=INTEROP_DIR, capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT_S, check=False)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0 or not lines:
            pytest.fail(f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                        f"stderr:\n{proc.stderr}\nserver log:\n{interop_server.read_log()}")
        result: dict[str, Any] = json.loads(lines[-1])
        if not result.get("ok"):
            pytest.fail(f"{script} over {transport} failed: {result.get('error')}\n"
                        f"steps so far: {json.dumps(result.get('steps'), indent=1)[:6000]}\n"
                        f"server log:\n{interop_server.read_log()}")
        return result

    return run
