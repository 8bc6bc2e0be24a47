"""The reference for ``bench/fanout.py``: a bare python-socketio relay with no storage.

It accepts every connection, joins rooms on request and re-emits each ``message:send`` to
the room, then acks. Deliberately stock: aiohttp, the default asyncio loop, stdlib json.
It speaks just enough of Parley's protocol (``session``, ``room:create``/``room:join``,
``message:send``) for the benchmark client to drive both servers identically.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from typing import Any

import socketio
from aiohttp import web

logger = logging.getLogger(__name__)


def create_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[])
    app = web.Application()
    sio.attach(app)
    ids = itertools.count(1)
    users: dict[str, str] = {}

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        name = auth.get("username", sid) if isinstance(auth, dict) else sid
        users[sid] = str(name)
        await sio.emit("session", {"user": {"name": users[sid]}}, to=sid)

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        users.pop(sid, None)

    async def join(sid: str, data: Any) -> dict[str, Any]:
        room = data.get("room") or data.get("name")
        await sio.enter_room(sid, room)
        return {"ok": True, "room": {"id": room}}

    sio.on("room:join", join)
    sio.on("room:create", join)

    async def send(sid: str, data: Any) -> dict[str, Any]:
        room = data["room"]
        message = {"id": next(ids), "room": room, "sender": users.get(sid),
                   "ts": int(time.time() * 1000), "kind": "text", "text": data.get("text", ""),
                   "client_id": data.get("client_id")}
        await sio.emit("message", message, room=room, skip_sid=sid)
        return {"ok": True, "message": message}

    sio.on("message:send", send)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(create_app(), host=args.host, port=args.port, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
