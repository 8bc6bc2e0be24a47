"""Loud failures when the python-engineio / python-socketio internals we rely on change.

``server.ws_writer`` and ``server.fanout`` hook into engine.io at a few places that are not
public API (see their docstrings). If an upgrade moves any of them, the fast path would
quietly fall back to the slow one, or worse, lose order; these tests fail first, naming
what moved. pyproject.toml pins both packages to the minor versions tested here.

Also here: the engine.io websocket never negotiates permessage-deflate, and the writer
really engages for websocket (and upgraded) sockets on a running server.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import aiohttp
import engineio
import socketio
from engineio import base_socket
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from socketio import base_server

from server.app import SIO_KEY, RunningServer
from server.ws_writer import EngineServer, NoDeflateWebSocket, OutboundQueue
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.server.rawio import RawClient


def _src(obj: object) -> str:
    return inspect.getsource(obj)  # type: ignore[arg-type]


def test_versions_are_the_tested_minors() -> None:
    assert version("python-engineio").startswith("4.15."), version("python-engineio")
    assert version("python-socketio").startswith("5.18."), version("python-socketio")


def test_sockets_get_their_queue_from_the_server() -> None:
    # OutboundQueue reaches every socket through EngineServer.create_queue
    assert "self.queue = self.server.create_queue()" in _src(base_socket.BaseSocket.__init__)


def test_socketio_builds_its_engineio_server_through_the_hook() -> None:
    assert "self._engineio_server_class()(" in _src(base_server.BaseServer.__init__)
    assert hasattr(socketio.AsyncServer, "_engineio_server_class")


def test_the_websocket_handler_has_the_shape_the_writer_assumes() -> None:
    src = _src(AsyncSocket._websocket_handler)
    # its writer task is the only caller of poll() once upgraded, and closes the ws after
    assert "packets = await self.poll()" in src
    assert "if not packets:" in src and "await ws.close()" in src
    assert "self.upgraded = True" in src
    # the reader ends the writer by queueing None
    assert "await self.queue.put(None)" in src
    # the handshake answers the probe through the driver before the writer exists
    assert "await ws.send(packet.Packet(packet.PONG, data='probe').encode())" in src
    # polling requests never poll once upgrading or upgraded
    get_src = _src(AsyncSocket.handle_get_request)
    assert get_src.index("if self.upgrading or self.upgraded:") < get_src.index("self.poll()")


def test_the_driver_is_called_with_the_sockets_bound_handler() -> None:
    src = _src(AsyncSocket._upgrade_websocket)
    assert "self.server._async['websocket'](" in src and "self._websocket_handler" in src
    init = inspect.signature(eio_aiohttp.WebSocket.__init__)
    assert list(init.parameters) == ["self", "handler", "server"]
    assert "environ['aiohttp.request']" in _src(eio_aiohttp.WebSocket.__call__)
    assert issubclass(NoDeflateWebSocket, eio_aiohttp.WebSocket)


def test_queue_put_and_get_go_through_the_nowait_methods() -> None:
    assert "self.put_nowait(item)" in _src(asyncio.Queue.put)
    assert "self.get_nowait()" in _src(asyncio.Queue.get)
    assert "await self.queue.join()" in _src(AsyncSocket.close)
    assert "await self.queue.put(pkt)" in _src(AsyncSocket.send)


def test_engineio_server_pieces_the_fast_path_uses() -> None:
    assert "websocket" in engineio.async_drivers.aiohttp._async  # type: ignore[attr-defined]
    assert "return asyncio.Queue(" in _src(engineio.AsyncServer.create_queue)
    assert inspect.signature(socketio.AsyncManager.get_participants).parameters.keys() >= {
        "namespace",
        "room",
    }
    pkt = engineio.packet.Packet(engineio.packet.MESSAGE, b"x")
    assert pkt.binary and pkt.data == b"x" and hasattr(pkt, "encode_cache")


async def test_the_websocket_never_negotiates_deflate(server: RunningServer) -> None:
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, compress=15) as ws:  # offers permessage-deflate
            assert ws.compress == 0
            assert "Sec-WebSocket-Extensions" not in ws._response.headers
            assert (await ws.receive_str()).startswith("0")


async def test_writers_engage_for_websocket_and_upgraded_sockets(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    eio = sio.eio
    assert isinstance(eio, EngineServer)
    on_ws = ChatTestClient(server.url, ["websocket"])
    await on_ws.connect({"username": "ws", "password": PASSWORD})
    await on_ws.wait_for("session")
    async with aiohttp.ClientSession() as http:
        polling = RawClient(http, server.url)
        await polling.polling({"username": "poll", "password": PASSWORD})
        try:
            queues = {sid: s.queue for sid, s in eio.sockets.items()}
            assert all(isinstance(q, OutboundQueue) for q in queues.values())
            ws_sid = on_ws.sio.eio.sid
            assert queues[ws_sid].writer is not None, "websocket socket has no writer"
            assert queues[polling.sid].writer is None
            await polling.upgrade()
            await sio.emit("probe", {"n": 1}, to=sio.manager.sid_from_eio_sid(polling.sid, "/"))
            await polling.wait_until(lambda: any(g.event == "probe" for g in polling.got))
            assert eio.sockets[polling.sid].queue.writer is not None, "upgrade left no writer"
        finally:
            await polling.close()
            await on_ws.disconnect()
