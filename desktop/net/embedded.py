"""EmbeddedServer: run the Parley server inside the app, on the qasync loop.

For the "host a server on this machine" mode; the server never sees Qt, it only shares
the running asyncio loop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from desktop.secrets import ensure_private_dir

logger = logging.getLogger(__name__)


class EmbeddedServer:
    """``await start() -> url``; ``await stop()``. Data lives in ``data_dir``."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self._running: Any = None

    @property
    def running(self) -> bool:
        return self._running is not None

    @property
    def url(self) -> str | None:
        return str(self._running.url) if self._running is not None else None

    async def start(self) -> str:
        if self._running is not None:
            return str(self._running.url)
        # imported here so the desktop app starts without loading server code it won't use
        from server.app import start_server
        from server.config import ServerConfig

        ensure_private_dir(self.data_dir)  # the database and images: only this user
        cfg = ServerConfig(host=self.host, port=self.port, data_dir=self.data_dir)
        self._running = await start_server(cfg)
        self.port = int(self._running.port)  # the bound port when 0 asked for any
        logger.info("embedded server listening on %s", self._running.url)
        return str(self._running.url)

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.stop()
            logger.info("embedded server stopped")
