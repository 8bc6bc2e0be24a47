"""``FanoutManager.broadcast`` is a plain call a cluster bus subscriber can make.

A broadcast that arrives from another node (e.g. over Redis) must reach this node's
sockets through the same fast path, from ordinary code that is not a Socket.IO handler:
a synchronous call with (room, event, payload, skip_sid), websocket and polling alike.
"""

from __future__ import annotations

import aiohttp

from server.app import SIO_KEY, RunningServer
from server.fanout import FanoutManager
from server.protocol import GENERAL_ROOM
from tests.server.helpers import PASSWORD
from tests.server.rawio import RawClient


async def test_a_bus_subscriber_delivers_through_the_fast_path(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    manager = sio.manager
    assert isinstance(manager, FanoutManager)
    async with aiohttp.ClientSession() as http:
        on_ws, on_poll, origin = (
            RawClient(http, server.url),
            RawClient(http, server.url),
            (RawClient(http, server.url)),
        )
        await on_ws.websocket({"username": "ws", "password": PASSWORD})
        await on_poll.polling({"username": "poll", "password": PASSWORD})
        await origin.websocket({"username": "origin", "password": PASSWORD})
        try:
            skip = manager.sid_from_eio_sid(origin.sid, "/")
            payload = {"bus": 7, "text": "from another node", "blob": b"\x00\x01\x02"}
            # synchronous: no await, no handler context
            delivered = manager.broadcast(GENERAL_ROOM, "message", payload, skip)
            assert delivered == 2
            manager.broadcast(GENERAL_ROOM, "message", {"bus": 8, "text": "to all"})
            for client in (on_ws, on_poll):
                await client.wait_until(
                    lambda c=client: any(
                        g.data.get("bus") == 8 for g in c.got if g.event == "message"
                    )
                )
                got = [g.data for g in client.got if g.event == "message" and "bus" in g.data]
                assert got == [payload, {"bus": 8, "text": "to all"}]
            await origin.wait_until(
                lambda: any(g.data.get("bus") == 8 for g in origin.got if g.event == "message")
            )
            assert [g.data["bus"] for g in origin.got if "bus" in g.data] == [8]
        finally:
            for client in (on_ws, on_poll, origin):
                await client.close()
