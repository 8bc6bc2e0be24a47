"""A ``json``-module lookalike for python-socketio: orjson speed, stdlib behaviour on the edges.

orjson refuses what stdlib json accepts (integers beyond 64 bits, NaN, non-string keys).
Falling back keeps a hostile payload an ordinary bad_request instead of a dropped packet.
Note python-socketio installs the codec process-wide (``Packet.json`` is a class attribute).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    try:
        return orjson.dumps(obj).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        kwargs.setdefault("separators", (",", ":"))
        return json.dumps(obj, *args, **kwargs)


def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data, *args, **kwargs)
