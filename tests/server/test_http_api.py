"""The HTTP API on the same port: health, metrics, login, rooms, messages, media, CORS."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
import socketio
from PIL import Image

from server.app import RunningServer
from server.protocol import GENERAL_ROOM, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import PASSWORD, ChatTestClient


@pytest.fixture
def transport() -> str:
    """HTTP is the subject here; one Socket.IO transport is enough for the helper clients."""
    return "websocket"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def login(http: aiohttp.ClientSession, server: RunningServer, name: str) -> dict:
    async with http.post(
        f"{server.url}/api/login", json={"username": name, "password": PASSWORD}
    ) as r:
        assert r.status == 200
        return await r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_healthz_and_metrics(
    server: RunningServer, http: aiohttp.ClientSession, connect: Connect
) -> None:
    await connect("alice")
    async with http.get(f"{server.url}/healthz") as r:
        assert r.status == 200
        body = await r.json()
    assert body["status"] == "ok" and body["connections"] == 1 and body["version"]
    async with http.get(f"{server.url}/metrics") as r:
        assert r.status == 200 and r.content_type == "text/plain"
        text = await r.text()
    assert "parley_connections 1" in text
    assert "# TYPE parley_messages_total counter" in text
    assert "# TYPE parley_messages_stored gauge" in text


async def test_login_rooms_and_history(
    server: RunningServer, http: aiohttp.ClientSession, connect: Connect
) -> None:
    alice = await connect("alice")
    sent = [await alice.send(GENERAL_ROOM, f"m{i}") for i in range(3)]
    body = await login(http, server, "ALICE")
    assert body["user"] == {"name": "alice"} and body["token"]
    headers = bearer(body["token"])
    async with http.get(f"{server.url}/api/rooms", headers=headers) as r:
        rooms = (await r.json())["rooms"]
    assert [room["id"] for room in rooms] == [GENERAL_ROOM]
    async with http.get(
        f"{server.url}/api/rooms/{GENERAL_ROOM}/messages?limit=2", headers=headers
    ) as r:
        page = await r.json()
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in sent[1:]] and page["has_more"]
    async with http.get(
        f"{server.url}/api/rooms/{GENERAL_ROOM}/messages?after={sent[0]['id']}", headers=headers
    ) as r:
        page = await r.json()
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in sent[1:]]
    assert page["has_more"] is False


async def test_post_message_broadcasts_and_counts_delivery(
    server: RunningServer, http: aiohttp.ClientSession, connect: Connect
) -> None:
    bob = await connect("bob")
    token = (await login(http, server, "alice"))["token"]

    async def deliver() -> None:
        message = await bob.wait_for(Event.MESSAGE, lambda m: m["text"] == "from a bot")
        await bob.ok(
            Event.MESSAGE_RECEIPT, {"room": GENERAL_ROOM, "id": message["id"], "state": "delivered"}
        )

    receipt = asyncio.create_task(deliver())
    async with http.post(
        f"{server.url}/api/rooms/{GENERAL_ROOM}/messages?wait_ms=10000",
        json={"text": "from a bot", "client_id": "bot-1"},
        headers=bearer(token),
    ) as r:
        assert r.status == 201
        body = await r.json()
    await receipt
    assert body["delivered"] == 1
    assert body["message"]["sender"] == "alice" and body["message"]["client_id"] == "bot-1"
    assert body["message"]["receipts"]["delivered"] == 1
    # without wait_ms nothing is waited for; idempotent like message:send
    async with http.post(
        f"{server.url}/api/rooms/{GENERAL_ROOM}/messages",
        json={"text": "from a bot", "client_id": "bot-1"},
        headers=bearer(token),
    ) as r:
        again = await r.json()
    assert again["message"]["id"] == body["message"]["id"]


async def test_http_errors_use_the_protocol_shape(
    server: RunningServer, http: aiohttp.ClientSession, connect: Connect
) -> None:
    await connect("bob")
    token = (await login(http, server, "alice"))["token"]
    cases = [
        ("GET", "/api/rooms", None, {}, 401, "unauthorized"),
        ("GET", "/api/rooms", None, bearer("nonsense"), 401, "unauthorized"),
        (
            "POST",
            "/api/login",
            {"username": "alice", "password": "wrong password"},
            {},
            401,
            "unauthorized",
        ),
        ("POST", "/api/login", {"username": "bad name"}, {}, 400, "bad_request"),
        ("GET", "/api/rooms/nowhere/messages", None, bearer(token), 404, "not_found"),
        ("GET", "/api/rooms/general/messages?limit=abc", None, bearer(token), 400, "bad_request"),
        ("POST", "/api/rooms/general/messages", {"text": ""}, bearer(token), 400, "bad_request"),
        (
            "POST",
            "/api/rooms/general/messages?wait_ms=10001",
            {"text": "x"},
            bearer(token),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/api/rooms/general/messages",
            {"text": "x" * 4001},
            bearer(token),
            413,
            "too_large",
        ),
        ("GET", "/media/nothing", None, bearer(token), 404, "not_found"),
    ]
    for method, path, body, headers, status, code in cases:
        async with http.request(method, f"{server.url}{path}", json=body, headers=headers) as r:
            assert r.status == status, (path, await r.text())
            error = (await r.json())["error"]
            assert error["code"] == code and error["message"], path
    async with http.post(
        f"{server.url}/api/login", data=b"not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400


async def test_media_endpoint_serves_exact_bytes_to_members(
    server: RunningServer, http: aiohttp.ClientSession, connect: Connect
) -> None:
    alice = await connect("alice")
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(out, "JPEG")
    data = out.getvalue()
    await alice.ok(Event.ROOM_CREATE, {"name": "secret", "private": True})
    ack = await alice.ok(
        Event.MESSAGE_SEND, {"room": "secret", "client_id": "p", "image": {"data": data}}
    )
    image_id = ack["message"]["image"]["id"]
    token = alice.session["token"]
    async with http.get(f"{server.url}/media/{image_id}", headers=bearer(token)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/jpeg"
        assert r.headers["Cache-Control"] == "private, max-age=31536000, immutable"
        assert await r.read() == data
    bob_token = (await login(http, server, "bob"))["token"]
    async with http.get(f"{server.url}/media/{image_id}", headers=bearer(bob_token)) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_cross_origin_handshake_refused_unless_allowed(server_factory: ServerFactory) -> None:
    closed = await server_factory()
    client = ChatTestClient(closed.url, ["polling"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            {"username": "alice", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
        )
    ws_client = ChatTestClient(closed.url, ["websocket"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await ws_client.connect(
            {"username": "alice", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
        )

    allowed = await server_factory(cors_origins=["https://chat.example"])
    ok = ChatTestClient(allowed.url, ["polling"])
    await ok.connect(
        {"username": "alice", "password": PASSWORD}, headers={"Origin": "https://chat.example"}
    )
    assert (await ok.wait_for(Event.SESSION))["user"]["name"] == "alice"
    await ok.disconnect()
    refused = ChatTestClient(allowed.url, ["websocket"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(
            {"username": "alice", "password": PASSWORD}, headers={"Origin": "https://other.example"}
        )


async def test_operator_notice_reaches_every_connection_and_others_are_refused(
    server_factory: ServerFactory, http: aiohttp.ClientSession, transport: str, tmp_path
) -> None:
    # an operator must exist when the server starts (a name registered later is nobody)
    first = await server_factory(data_dir=tmp_path / "ops")
    await login(http, first, "olivia")
    await first.stop()
    server = await server_factory(data_dir=tmp_path / "ops", operators=["Olivia"])
    listener = ChatTestClient(server.url, [transport])
    await listener.connect({"username": "bob", "password": PASSWORD})
    await listener.wait_for("session")
    try:
        operator = await login(http, server, "olivia")
        plain = await login(http, server, "carol")
        notice = {"text": "Maintenance at 18:00 UTC", "level": "warning"}
        async with http.post(f"{server.url}/api/notice", json=notice,
                             headers=bearer(plain["token"])) as r:
            assert r.status == 403
            assert (await r.json())["error"]["code"] == "forbidden"
        async with http.post(f"{server.url}/api/notice", json={"text": " ", "level": "info"},
                             headers=bearer(operator["token"])) as r:
            assert r.status == 400
        async with http.post(f"{server.url}/api/notice", json=notice,
                             headers=bearer(operator["token"])) as r:
            assert r.status == 200
            assert (await r.json())["connections"] == 1
        assert await listener.wait_for("notice") == notice
    finally:
        await listener.disconnect()
