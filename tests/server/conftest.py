"""Client fixtures for the server integration tests; the server itself comes from tests/conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from server.app import RunningServer
from tests.server.helpers import PASSWORD, ChatTestClient

Connect = Callable[..., Awaitable[ChatTestClient]]


@pytest.fixture(params=["websocket", "polling"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def connect(server: RunningServer, transport: str) -> AsyncIterator[Connect]:
    """Connect a logged-in client (registering the name on first use) and wait for session."""
    clients: list[ChatTestClient] = []

    async def make(
        username: str | None = None,
        password: str = PASSWORD,
        *,
        auth: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> ChatTestClient:
        client = ChatTestClient(url or server.url, [transport])
        clients.append(client)
        await client.connect(
            auth if auth is not None else {"username": username, "password": password}
        )
        await client.wait_for("session")
        return client

    yield make
    for client in clients:
        await client.disconnect()
