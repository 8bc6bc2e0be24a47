"""Admin commands on a cluster: two server nodes share one PostgreSQL database, no Redis.

A disabled user's sessions end on EVERY node, because each node polls the database's
account events itself; no message bus is involved.
"""

from __future__ import annotations

from pathlib import Path

from server.protocol import GENERAL_ROOM, ErrorCode, Event
from tests.conftest import ServerFactory
from tests.server.admin_helpers import Backend, Disconnects, postgres_backend, refused
from tests.server.v2_helpers import client_for


async def test_disable_ends_the_users_sessions_on_every_node(
    server_factory: ServerFactory, transport: str, tmp_path: Path
) -> None:
    async with postgres_backend(tmp_path / "data") as backend:
        await _disable_on_two_nodes(server_factory, backend, transport)


async def _disable_on_two_nodes(
    server_factory: ServerFactory, backend: Backend, transport: str
) -> None:
    node_a = await server_factory(**backend.server_overrides)
    node_b = await server_factory(**{**backend.server_overrides, "data_dir": backend.data_dir / "b"})
    on_a = await client_for(node_a, transport, "alice")
    on_b = await client_for(node_b, transport, "alice")
    bob = await client_for(node_b, transport, "bob")
    cuts = [Disconnects(on_a), Disconnects(on_b)]

    await backend.ok("users", "disable", "alice")
    for cut in cuts:
        await cut.wait()
    for client in (on_a, on_b):
        assert "disabled" in client.received(Event.NOTICE)[-1]["text"]
    for node in (node_a, node_b):
        error = await refused(node.url, {"token": on_a.session["token"]})
        assert error["code"] == ErrorCode.UNAUTHORIZED and "disabled" in error["message"]
    assert bob.sio.connected
    await bob.send(GENERAL_ROOM, "bob is unaffected")

    await backend.ok("users", "enable", "alice")
    back = await client_for(node_a, transport, "alice")
    await back.disconnect()
    await bob.disconnect()
