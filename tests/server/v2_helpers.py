"""Helpers shared by the protocol v2 server tests."""

from __future__ import annotations

from server.app import RunningServer
from server.protocol import Event
from tests.server.helpers import PASSWORD, ChatTestClient


async def client_for(server: RunningServer, transport: str, name: str) -> ChatTestClient:
    """A logged-in client of a server made by ``server_factory`` (disconnect it yourself)."""
    client = ChatTestClient(server.url, [transport])
    await client.connect({"username": name, "password": PASSWORD})
    await client.wait_for(Event.SESSION)
    return client
