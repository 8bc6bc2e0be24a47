"""A ``json``-module lookalike for python-socketio: orjson speed, stdlib behaviour on the edges.

orjson refuses what stdlib json accepts (integers beyond 64 bits, NaN, non-string keys).
Falling back keeps a hostile payload an ordinary bad_request instead of a dropped packet.
Whatever cannot be decoded at all (bad syntax, nesting deeper than the recursion limit,
integers over Python's 4,300-digit limit) raises :class:`InvalidJSON`, a ``ValueError``:
never a ``RecursionError`` that would escape the callers' ``except ValueError``.
The server installs it on its own packet class only (``server.sio_guard.GuardedPacket``)
and on engine.io's packets.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class InvalidJSON(ValueError):
    """The text is not JSON this server will decode."""


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    try:
        return orjson.dumps(obj).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        kwargs.setdefault("separators", (",", ":"))
        return json.dumps(obj, *args, **kwargs)


def loads(data: str | bytes | bytearray, *args: Any, **kwargs: Any) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data, *args, **kwargs)
    except (ValueError, RecursionError, TypeError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and the int digit limit
        raise InvalidJSON(str(exc)[:200]) from None
