"""``parley-server admin`` against a RUNNING server: live sessions end, tokens are refused.

The command is a separate process that writes to the database only; the server notices
through the account events it polls, cuts the user's connections with a ``notice`` saying
why, and refuses the user's token with ``unauthorized`` and a sentence that says why.
"""

from __future__ import annotations

import aiohttp

from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.admin_helpers import (
    NEW_PASSWORD,
    Backend,
    Disconnects,
    backend_fixture,  # noqa: F401 - the ``backend`` fixture
    refused,
)
from tests.server.helpers import PASSWORD, ChatTestClient
from tests.server.v2_helpers import client_for


async def _http_status(url: str, token: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/rooms", headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status


async def test_disable_cuts_the_session_refuses_the_token_and_enable_lets_them_back(
    server_factory: ServerFactory, backend: Backend, transport: str
) -> None:
    server = await server_factory(**backend.server_overrides)
    alice = await client_for(server, transport, "alice")
    bob = await client_for(server, transport, "bob")
    token = alice.session["token"]
    cut = Disconnects(alice)

    out = await backend.ok("users", "disable", "alice")
    assert "Disabled alice" in out
    await cut.wait()
    notice = alice.received(Event.NOTICE)
    assert notice and "disabled" in notice[-1]["text"] and notice[-1]["level"] == "warning"
    assert bob.sio.connected  # only alice's sessions end

    error = await refused(server.url, {"token": token})
    assert error["code"] == ErrorCode.UNAUTHORIZED and "disabled" in error["message"]
    error = await refused(server.url, {"username": "alice", "password": PASSWORD})
    assert error["code"] == ErrorCode.UNAUTHORIZED and "disabled" in error["message"]
    # a wrong password learns nothing about the account's state
    error = await refused(server.url, {"username": "alice", "password": "not her password"})
    assert error["code"] == ErrorCode.UNAUTHORIZED and "disabled" not in error["message"]
    assert await _http_status(server.url, token) == 401

    listing = await backend.ok("users", "list")
    assert any(line.split()[:2] == ["alice", "disabled"] for line in listing.splitlines())

    assert "Enabled alice" in await backend.ok("users", "enable", "alice")
    back = ChatTestClient(server.url, [transport])
    await back.connect({"token": token})
    await back.wait_for(Event.SESSION)
    assert (await back.send(GENERAL_ROOM, "I am back"))["sender"] == "alice"
    assert await _http_status(server.url, token) == 200
    await back.disconnect()
    await bob.disconnect()


async def test_passwd_ends_every_session_and_only_the_new_password_works(
    server_factory: ServerFactory, backend: Backend, transport: str
) -> None:
    server = await server_factory(**backend.server_overrides)
    phone = await client_for(server, transport, "alice")
    laptop = await client_for(server, transport, "alice")
    old_token = phone.session["token"]
    cuts = [Disconnects(phone), Disconnects(laptop)]

    out = await backend.ok(
        "users", "passwd", "alice", "--password-stdin", stdin=NEW_PASSWORD + "\n"
    )
    assert "revoked 2 session token(s)" in out
    for cut in cuts:
        await cut.wait()
    assert "password" in phone.received(Event.NOTICE)[-1]["text"]

    error = await refused(server.url, {"token": old_token})
    assert error["code"] == ErrorCode.UNAUTHORIZED
    error = await refused(server.url, {"username": "alice", "password": PASSWORD})
    assert error["code"] == ErrorCode.UNAUTHORIZED
    again = ChatTestClient(server.url, [transport])
    await again.connect({"username": "alice", "password": NEW_PASSWORD})
    await again.wait_for(Event.SESSION)
    await again.disconnect()


async def test_tokens_revoke_ends_sessions_but_the_password_still_works(
    server_factory: ServerFactory, backend: Backend, transport: str
) -> None:
    server = await server_factory(**backend.server_overrides)
    alice = await client_for(server, transport, "alice")
    token = alice.session["token"]
    cut = Disconnects(alice)

    assert "Revoked 1 session token(s) of alice" in await backend.ok("tokens", "revoke", "alice")
    await cut.wait()
    assert "ended your sessions" in alice.received(Event.NOTICE)[-1]["text"]
    error = await refused(server.url, {"token": token})
    assert error == {"code": "unauthorized", "message": "The token is invalid or expired."}

    # a session that signs in after the revocation is not cut by it
    again = await client_for(server, transport, "alice")
    assert (await again.send(GENERAL_ROOM, "still here"))["sender"] == "alice"
    await again.disconnect()


async def test_delete_keeps_messages_under_a_reserved_name_and_hands_over_rooms(
    server_factory: ServerFactory, backend: Backend, transport: str
) -> None:
    server = await server_factory(**backend.server_overrides)
    alice = await client_for(server, transport, "alice")
    bob = await client_for(server, transport, "bob")
    await alice.ok(Event.ROOM_CREATE, {"name": "plans", "private": True})
    await alice.ok(Event.ROOM_INVITE, {"room": "plans", "user": "bob"})
    said = await alice.send("plans", "the plan is ready")
    dm = (await alice.ok(Event.DM_OPEN, {"user": "bob"}))["room"]
    await alice.send(dm["id"], "just between us")
    cut = Disconnects(alice)

    out = await backend.ok("users", "delete", "alice", "--transfer-rooms-to", "bob", "--yes")
    assert "Deleted alice" in out and "now owned by bob" in out
    await cut.wait()
    assert "deleted" in alice.received(Event.NOTICE)[-1]["text"]

    # her messages stay, under her name, in the room and in the DM
    history = await bob.ok(Event.MESSAGE_HISTORY, {"room": "plans"})
    assert [m["sender"] for m in history["messages"] if m["id"] == said["id"]] == ["alice"]
    history = await bob.ok(Event.MESSAGE_HISTORY, {"room": dm["id"]})
    assert history["messages"][-1]["sender"] == "alice"
    # she left every room; bob owns hers now and may close it
    members = await bob.ok(Event.ROOM_MEMBERS, {"room": "plans"})
    assert [m["name"] for m in members["members"]] == ["bob"]
    general = await bob.ok(Event.ROOM_MEMBERS, {"room": GENERAL_ROOM})
    assert "alice" not in [m["name"] for m in general["members"]]
    rooms = {r["id"]: r for r in (await bob.ok(Event.ROOMS_LIST))["rooms"]}
    assert rooms["plans"]["owner"] == "bob"
    # nobody can sign in as her, register her name, or open a new DM with her
    error = await refused(server.url, {"username": "alice", "password": PASSWORD})
    assert error["code"] == ErrorCode.UNAUTHORIZED and "deleted" in error["message"]
    error = await refused(server.url, {"username": "ALICE", "password": "another password"})
    assert error["code"] == ErrorCode.UNAUTHORIZED and "reserved" in error["message"]
    assert await bob.error(Event.ROOM_INVITE, {"room": "plans", "user": "alice"}) == "not_found"
    await bob.ok(Event.ROOM_CLOSE, {"room": "plans"})

    listing = await backend.ok("users", "list")
    assert any(line.split()[:2] == ["alice", "deleted"] for line in listing.splitlines())
    again = await backend.admin("users", "add", "alice", "--password-stdin", stdin=NEW_PASSWORD)
    assert again.rc == 1 and "reserved" in again.err
    await bob.disconnect()
