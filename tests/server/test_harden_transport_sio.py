"""Transport hardening, Socket.IO side: attachments, malformed frames, requests in flight,
long-polling bursts. Real server, raw frames or python-socketio clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import aiohttp
import pytest
import socketio

from server.http_api import CHAT_KEY
from server.protocol import GENERAL_ROOM, Event
from server.sio_guard import MAX_FRAMED_ATTACHMENTS, GuardedPacket, check_internals
from tests.conftest import ServerFactory
from tests.server.harden_support import RawSocket, sio_of, wait_until
from tests.server.helpers import PASSWORD, TIMEOUT, ChatTestClient

pytestmark = pytest.mark.timeout(120)


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_python_socketio_internals_the_guards_rely_on_are_there() -> None:
    """Fails loudly on an upgrade that renames what server.sio_guard overrides."""
    check_internals()
    pkt = GuardedPacket(encoded_packet='51-["message:send",{"_placeholder":true,"num":0}]')
    assert pkt.attachment_count == 1
    assert pkt.add_attachment(b"img") is True
    assert pkt.data == ["message:send", b"img"]


async def test_a_packet_announcing_a_million_attachments_closes_the_connection(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8.4: the server kept every binary frame a huge announcement let through."""
    server = await server_factory()
    sio = sio_of(server)
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, server)
        await raw.login("alice")
        await raw.ws.send_str('451000000-["message:send",{"_placeholder":true,"num":0}]')
        frames_sent = 0
        try:
            for _ in range(200):
                await raw.ws.send_bytes(b"\x00" * 65536)
                frames_sent += 1
        except ConnectionError:
            pass
        assert await raw.closed()
        await wait_until(lambda: not sio.eio.sockets)
    assert not sio._binary_packet
    assert sio.transport_stats.attachment_violations >= 1
    assert not _errors(caplog)


async def test_a_binary_packet_over_the_buffer_limit_closes_the_connection(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_image_bytes=64 * 1024)
    sio = sio_of(server)
    limit = sio.eio.max_http_buffer_size
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, server)
        await raw.login("alice")
        # two attachments: each frame under the limit, together over it
        await raw.ws.send_str(
            '452-["message:send",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        )
        await raw.ws.send_bytes(b"\x00" * (limit // 2 + 1))
        await raw.ws.send_bytes(b"\x00" * (limit // 2 + 1))
        assert await raw.closed()
        await wait_until(lambda: not sio.eio.sockets)
        assert not sio._binary_packet
        # a binary frame that no packet announced is refused the same way
        raw = await RawSocket.open(session, server)
        await raw.login("alice")
        await raw.ws.send_bytes(b"\x89PNG")
        assert await raw.closed()


async def test_more_than_one_attachment_is_bad_request_and_the_connection_stays(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory()
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, server)
        await raw.login("alice")
        count = MAX_FRAMED_ATTACHMENTS
        placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(count))
        await raw.ws.send_str(f'45{count}-7["message:send",[{placeholders}]]')
        for _ in range(count):
            await raw.ws.send_bytes(b"x")
        ack = await raw.ack(7)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request"
        assert (await raw.call_raw('["rooms:list",{}]'))["ok"] is True
        await raw.close()


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1100 + "]" * 1100,  # deeper than orjson's and the stdlib's limits
        '["rooms:list",{"n":' + "7" * 4400 + "}]",  # over Python's int digit limit
        "[]",
        "{}",
        '"rooms:list"',
        "[1]",
        '["rooms:list",}',
    ],
    ids=["deep", "long-int", "empty-list", "object", "string", "non-string-name", "syntax"],
)
async def test_every_malformed_event_with_an_id_gets_bad_request(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    """Issue 8.16: deep nesting, 4,300+ digit integers and ``[]`` got no ack at all."""
    server = await server_factory()
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, server)
        await raw.login("alice")
        ack = await raw.call_raw(body)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", ack
        assert (await raw.call_raw('["rooms:list",{}]'))["ok"] is True
        await raw.close()
    assert not _errors(caplog)


@pytest.mark.parametrize("frame", ["", "9", "4", "4x", "b!!", "49[]"])
async def test_engineio_garbage_closes_without_a_traceback(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    server = await server_factory()
    sio = sio_of(server)
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, server)
        await raw.login("alice")
        await raw.ws.send_str(frame)
        # either the frame is ignored (the connection answers) or the connection closes
        await raw.ws.send_str('421["rooms:list",{}]')
        try:
            ack = await raw.ack(1)
            assert ack["ok"] is True
            await raw.close()
        except ConnectionError:
            pass
        await wait_until(lambda: not sio.eio.sockets)
    assert not _errors(caplog), [r.getMessage() for r in _errors(caplog)]


async def test_requests_in_flight_per_connection_are_bounded(server_factory: ServerFactory) -> None:
    """Issue 8.3: 300 concurrent message:history calls on one connection."""
    server = await server_factory(max_requests_in_flight=8, rate_limit_messages=0)
    chat = server.app[CHAT_KEY]
    alice = ChatTestClient(server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.wait_for(Event.SESSION)
    for i in range(20):
        await alice.send(GENERAL_ROOM, f"m{i}")

    running = 0
    peak = 0
    peak_admitted = 0
    history = chat.messages.history
    namespace = sio_of(server).namespace_handlers["/"]

    async def counted_history(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, peak, peak_admitted
        running += 1
        peak = max(peak, running)
        peak_admitted = max(peak_admitted, *(s.admitted for s in namespace._slots.values()))
        try:
            await asyncio.sleep(0)  # let the others pile up, as a slow query would
            return await history(*args, **kwargs)
        finally:
            running -= 1

    chat.messages.history = counted_history  # type: ignore[method-assign]
    acks = await asyncio.gather(
        *(alice.call(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM}) for _ in range(300))
    )
    chat.messages.history = history  # type: ignore[method-assign]
    assert peak == 8  # the flood did pile up, and never ran more than 8 at once
    assert peak_admitted <= 64  # 8 running and at most 56 waiting
    codes = [a["error"]["code"] for a in acks if not a["ok"]]
    assert set(codes) <= {"rate_limited"}
    assert len(acks) == 300
    # a bystander connection is not limited by alice's flood
    bob = ChatTestClient(server.url, ["websocket"])
    await bob.connect({"username": "bob", "password": PASSWORD})
    await bob.wait_for(Event.SESSION)
    await bob.ok(Event.MESSAGE_HISTORY, {"room": GENERAL_ROOM})
    await alice.disconnect()
    await bob.disconnect()


async def test_a_polling_python_client_keeps_its_connection_through_a_burst(
    server_factory: ServerFactory,
) -> None:
    """python-socketio's client drops a poll of more than 16 packets (python-engineio #142):
    the server must split a burst so every broadcast and ack arrives, with no reconnect."""
    server = await server_factory(rate_limit_messages=0)
    sio = sio_of(server)
    connects = 0
    received: list[Any] = []
    got_all = asyncio.Event()
    poller = socketio.AsyncClient(reconnection=True)

    @poller.on("connect")
    async def on_connect() -> None:
        nonlocal connects
        connects += 1

    @poller.on(Event.MESSAGE)
    async def on_message(data: Any) -> None:
        if data["kind"] != "text":
            return  # "sender joined"
        received.append(data)
        if len(received) == 200:
            got_all.set()

    await poller.connect(
        server.url,
        auth={"username": "polly", "password": PASSWORD},
        transports=["polling"],
        wait_timeout=TIMEOUT,
    )
    sender = ChatTestClient(server.url, ["websocket"])
    await sender.connect({"username": "sender", "password": PASSWORD})
    await sender.wait_for(Event.SESSION)
    await wait_until(lambda: len(sio.manager.rooms["/"].get(GENERAL_ROOM, {})) == 2)

    # 200 broadcasts with 32 in flight (a connection may have 64 waiting), and 50 sends
    # from the poller at once
    window = asyncio.Semaphore(32)

    async def send(i: int) -> Any:
        async with window:
            return await sender.sio.call(
                Event.MESSAGE_SEND,
                {"room": GENERAL_ROOM, "text": f"b{i}", "client_id": str(uuid.uuid4())},
                timeout=TIMEOUT * 3,
            )

    sends = [send(i) for i in range(200)]
    own = [
        poller.call(
            Event.MESSAGE_SEND,
            {"room": GENERAL_ROOM, "text": f"p{i}", "client_id": str(uuid.uuid4())},
            timeout=TIMEOUT * 3,
        )
        for i in range(50)
    ]
    # and a burst the server produces in one go: 200 notices queued before the next poll
    notices: list[Any] = []
    poller.on(Event.NOTICE, lambda data: notices.append(data))
    chat = server.app[CHAT_KEY]
    for i in range(200):
        await chat.broadcast_notice(f"n{i}")
    results = await asyncio.gather(*sends, *own)
    assert [r for r in results if not r["ok"]] == []
    async with asyncio.timeout(TIMEOUT * 3):
        await got_all.wait()
    assert sorted(m["text"] for m in received) == sorted(f"b{i}" for i in range(200))
    await wait_until(lambda: len(notices) >= 200)
    assert [n["text"] for n in notices] == [f"n{i}" for i in range(200)]
    assert connects == 1
    await poller.disconnect()
    await sender.disconnect()


async def test_no_polling_response_carries_more_than_16_packets(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(rate_limit_messages=0)
    sio = sio_of(server)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/socket.io/?EIO=4&transport=polling") as resp:
            sid = json.loads((await resp.text())[1:])["sid"]
        url = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        login = json.dumps({"username": "polly", "password": PASSWORD})
        async with session.post(url, data="40" + login) as resp:
            assert resp.status == 200
        await wait_until(lambda: sio.session_up(sid))
        sender = ChatTestClient(server.url, ["websocket"])
        await sender.connect({"username": "sender", "password": PASSWORD})
        await sender.wait_for(Event.SESSION)
        for i in range(60):
            await sender.send(GENERAL_ROOM, f"b{i}")
        texts: list[str] = []
        sizes: list[int] = []
        while len(texts) < 60:
            async with session.get(url) as resp:
                packets = (await resp.text()).split("\x1e")
            sizes.append(len(packets))
            texts += [p for p in packets if p.startswith('42["message"') and '"kind":"text"' in p]
        assert max(sizes) <= 16
        assert len(texts) == 60
        await sender.disconnect()
