"""ChatService: wires the per-concern handlers of ``server.handlers`` together.

The namespace and the HTTP API reach behaviour through its handlers (``chat.rooms``,
``chat.messages``, …), never through the storage or the Socket.IO server directly. It holds
no protocol logic of its own: a new feature gets a handler module, not methods here.
"""

from __future__ import annotations

import socketio

from server.config import ServerConfig
from server.connections import ConnectionRegistry
from server.handlers.accounts import AccountHandler
from server.handlers.context import HandlerContext, Metrics
from server.handlers.messages import MessageHandler
from server.handlers.presence import PresenceHandler
from server.handlers.receipts import ReceiptHandler
from server.handlers.relations import RelationHandler
from server.handlers.rooms import RoomHandler
from server.handlers.search import SearchHandler
from server.handlers.sync import SyncHandler
from server.protocol import GENERAL_ROOM
from server.storage.base import Storage, User


class ChatService:
    def __init__(self, config: ServerConfig, storage: Storage, sio: socketio.AsyncServer) -> None:
        self.ctx = HandlerContext(config, storage, sio)
        self.rooms = RoomHandler(self.ctx)
        self.accounts = AccountHandler(self.ctx, self._join_general)
        self.presence = PresenceHandler(self.ctx)
        self.messages = MessageHandler(self.ctx)
        self.receipts = ReceiptHandler(self.ctx)
        self.relations = RelationHandler(
            self.ctx, self.messages.message_limiter, self.accounts.is_operator
        )
        self.sync = SyncHandler(self.ctx)
        self.search = SearchHandler(self.ctx)
        self.files = self.messages.files

    @property
    def config(self) -> ServerConfig:
        return self.ctx.config

    @property
    def storage(self) -> Storage:
        return self.ctx.storage

    @property
    def connections(self) -> ConnectionRegistry:
        return self.ctx.connections

    @property
    def metrics(self) -> Metrics:
        return self.ctx.metrics

    async def _join_general(self, user: User) -> None:
        await self.rooms.join_room(user, GENERAL_ROOM, None)

    async def start(self) -> None:
        self.ctx.change_order.load(await self.ctx.storage.room_seqs())
        await self.rooms.start()
        await self.accounts.start()
        await self.files.start()

    async def stop(self) -> None:
        """Cancel background work (pending room updates) before storage closes."""
        await self.ctx.stop()
        self.messages.images.close()

    async def broadcast_notice(self, text: str, level: str = "info") -> None:
        """Send an operator ``notice`` to every connection (in-process API for operators)."""
        await self.presence.broadcast_notice(text, level)
