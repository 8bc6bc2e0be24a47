"""Connecting: login, registration, tokens, logout and the refusals a client must understand."""

from __future__ import annotations

import pytest
import socketio

from server.app import RunningServer
from server.protocol import GENERAL_ROOM, PROTOCOL_VERSION, Event
from tests.conftest import ServerFactory
from tests.server.conftest import Connect
from tests.server.helpers import PASSWORD, ChatTestClient


async def refused(url: str, transport: str, auth: object) -> dict:
    client = ChatTestClient(url, [transport])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(auth)  # type: ignore[arg-type]
    assert isinstance(client.connect_error, dict), client.connect_error
    data = client.connect_error["data"]
    assert client.connect_error["message"] == data["message"]
    return data


async def test_session_is_the_first_event_and_describes_the_server(connect: Connect) -> None:
    alice = await connect("alice")
    assert alice.events[0].event == Event.SESSION
    session = alice.session
    assert session["user"] == {"name": "alice"}
    assert isinstance(session["token"], str) and len(session["token"]) >= 22
    assert session["server"]["protocol"] == PROTOCOL_VERSION
    assert session["server"]["limits"] == {
        "max_text_chars": 4000,
        "max_image_bytes": 10 * 1024 * 1024,
        "max_file_bytes": 100 * 1024 * 1024,
        "history_limit": 100,
    }
    # protocol v2: only what this server implements, in the protocol's order
    features = session["server"]["features"]
    assert features[:6] == ["changes", "reply", "edit", "delete", "reactions", "mentions"]


async def test_registration_joins_general_and_keeps_the_first_spelling(connect: Connect) -> None:
    first = await connect("Alice")
    rooms = (await first.ok(Event.ROOMS_LIST))["rooms"]
    assert [r["id"] for r in rooms if r["joined"]] == [GENERAL_ROOM]
    again = await connect("ALICE")  # same user, any case
    assert again.session["user"]["name"] == "Alice"


async def test_token_resumes_the_session(connect: Connect) -> None:
    alice = await connect("alice")
    resumed = await connect(auth={"token": alice.session["token"]})
    assert resumed.session["user"]["name"] == "alice"
    assert resumed.session["token"] == alice.session["token"]


async def test_logout_revokes_the_token(
    server: RunningServer, connect: Connect, transport: str
) -> None:
    alice = await connect("alice")
    token = alice.session["token"]
    await alice.ok(Event.SESSION_LOGOUT)
    data = await refused(server.url, transport, {"token": token})
    assert data["code"] == "unauthorized"


async def test_wrong_password_is_unauthorized(
    server: RunningServer, connect: Connect, transport: str
) -> None:
    await connect("alice")
    data = await refused(server.url, transport, {"username": "alice", "password": "wrong password"})
    assert data["code"] == "unauthorized"


@pytest.mark.parametrize(
    "auth",
    [
        {"username": "no spaces allowed", "password": PASSWORD},
        {"username": "a" * 33, "password": PASSWORD},
        {"username": "alice", "password": "short"},
        {"username": "alice", "password": 12345678},
        {"username": ["alice"], "password": PASSWORD},
    ],
)
async def test_malformed_credentials_are_bad_request(
    server: RunningServer, transport: str, auth: dict
) -> None:
    assert (await refused(server.url, transport, auth))["code"] == "bad_request"


@pytest.mark.parametrize("auth", [None, {}, {"token": "not-a-token"}, {"token": 42}])
async def test_missing_or_unknown_auth_is_unauthorized(
    server: RunningServer, transport: str, auth: object
) -> None:
    assert (await refused(server.url, transport, auth))["code"] == "unauthorized"


async def test_closed_registration_refuses_new_names_but_not_existing_users(
    server_factory: ServerFactory, tmp_path
) -> None:
    data_dir = tmp_path / "shared"
    open_server = await server_factory(data_dir=data_dir)
    alice = ChatTestClient(open_server.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    await alice.disconnect()
    await open_server.stop()

    closed = await server_factory(data_dir=data_dir, registration_open=False)
    data = await refused(closed.url, "websocket", {"username": "mallory", "password": PASSWORD})
    assert data["code"] == "unauthorized"
    again = ChatTestClient(closed.url, ["websocket"])
    await again.connect({"username": "alice", "password": PASSWORD})
    assert (await again.wait_for(Event.SESSION))["user"]["name"] == "alice"
    await again.disconnect()


async def test_failed_logins_are_rate_limited_per_username(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_failed_logins_per_minute=3)
    client = ChatTestClient(server.url, ["websocket"])
    await client.connect({"username": "alice", "password": PASSWORD})
    await client.disconnect()
    for _ in range(3):
        data = await refused(
            server.url, "websocket", {"username": "alice", "password": "bad password"}
        )
        assert data["code"] == "unauthorized"
    # even the right password is refused while the window is full
    data = await refused(server.url, "websocket", {"username": "ALICE", "password": PASSWORD})
    assert data["code"] == "rate_limited"


async def test_connections_per_user_are_limited(server_factory: ServerFactory) -> None:
    server = await server_factory(max_connections_per_user=2)
    first = ChatTestClient(server.url, ["websocket"])
    await first.connect({"username": "alice", "password": PASSWORD})
    token = (await first.wait_for(Event.SESSION))["token"]
    second = ChatTestClient(server.url, ["websocket"])
    await second.connect({"token": token})
    data = await refused(server.url, "websocket", {"token": token})
    assert data["code"] == "rate_limited"
    await second.disconnect()
    # a slot frees up when a connection goes
    third = ChatTestClient(server.url, ["websocket"])

    async def connects() -> bool:
        try:
            await third.connect({"token": token})
        except socketio.exceptions.ConnectionError:
            return False
        return True

    for _ in range(50):  # the disconnect reaches the server asynchronously
        if await connects():
            break
    assert (await third.wait_for(Event.SESSION))["user"]["name"] == "alice"
    await third.disconnect()
    await first.disconnect()


async def test_unknown_events_and_garbage_get_bad_request(connect: Connect) -> None:
    alice = await connect("alice")
    assert await alice.error("no:such:event", {}) == "bad_request"
    assert await alice.error(Event.ROOMS_LIST, "garbage") == "bad_request"
    assert await alice.error(Event.ROOM_JOIN, [1, 2, 3]) == "bad_request"
    ack = await alice.sio.call("connect", {"x": 1}, timeout=10)
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request"
    # the connection survived all of it
    assert (await alice.ok(Event.ROOMS_LIST))["rooms"]


async def test_token_and_membership_survive_a_restart(
    server_factory: ServerFactory, tmp_path
) -> None:
    data_dir = tmp_path / "kept"
    first = await server_factory(data_dir=data_dir)
    alice = ChatTestClient(first.url, ["websocket"])
    await alice.connect({"username": "alice", "password": PASSWORD})
    token = (await alice.wait_for(Event.SESSION))["token"]
    await alice.ok(Event.ROOM_CREATE, {"name": "kept"})
    await alice.disconnect()
    await first.stop()

    second = await server_factory(data_dir=data_dir)
    again = ChatTestClient(second.url, ["websocket"])
    await again.connect({"token": token})
    assert (await again.wait_for(Event.SESSION))["user"]["name"] == "alice"
    rooms = {r["id"]: r["joined"] for r in (await again.ok(Event.ROOMS_LIST))["rooms"]}
    assert rooms == {GENERAL_ROOM: True, "kept": True}
    await again.disconnect()
