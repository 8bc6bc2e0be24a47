"""Shared pieces of the Node interop harness (imported by conftest and the tests)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
NODE_MODULES = INTEROP_DIR / "node_modules" / "socket.io-client"
SCRIPT_TIMEOUT_S = 90.0
TRANSPORTS = ("websocket", "polling")

NodeRunner = Callable[..., dict[str, Any]]


def node_required() -> bool:
    return os.environ.get("PARLEY_REQUIRE_NODE") == "1" or bool(os.environ.get("CI"))


def missing_node_reason() -> str | None:
    """Why the interop scripts cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not on PATH (install Node.js >= 18)"
    if not NODE_MODULES.is_dir():
        return f"socket.io-client is not installed: run `npm ci` in {INTEROP_DIR}"
    return None


def unique_prefix(transport: str) -> str:
    """A fresh lowercase prefix valid in both usernames and room ids."""
    return f"{transport[:2]}{secrets.token_hex(4)}"
