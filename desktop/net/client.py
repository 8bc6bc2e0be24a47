"""ChatClient: the one service that talks to a Parley server (shared/PROTOCOL.md).

The UI sees one QObject: Qt signals, the stores and models, and the methods below. Behind
it the work is split by concern into mixins over ``desktop.net.core.ClientCore``:

- ``connection``: connect, reconnect with capped backoff, sign in and out, switch servers;
- ``rooms``: the room list, catching up without gaps or duplicates, history, room requests;
- ``sending``: the on-disk Outbox, local echoes, retry/delete, incoming messages;
- ``conversation``: protocol v2 catch-up by seq, ``message:updated``, edit/delete/react;
- ``receipts``: delivered/read receipts (coalesced) and the ticks on own messages;
- ``presence``: typing indicators and online dots;
- ``media``: fetching images, cached;
- ``search``: ``message:search`` pages, and loading history back to a result.
- ``files``: uploads and downloads over HTTP (protocol v2 files), with progress.

All networking runs on the qasync event loop; there are no threads here.

Signals:
    connectionStateChanged(str state, int retry_in_s): "offline" | "connecting" |
        "connected" | "reconnecting" | "refused".
    sessionStarted(str username): the first session of a ``connect_to`` is up.
    sessionRefused(str code, str message): the server refused our credentials.
    errorOccurred(str message): a human-readable problem to show.
    limitsChanged(dict limits): the server's limits, from every ``session`` event.
    roomAdded(str room_id): a room joined, created, opened or added by someone else.
    roomClosed(str room_id): a room is gone from this user's list (closed or left).
    typingChanged(str room_id, list users): who is typing there now.
    messageReceived(str room_id, object message): a new message from someone else.
    noticeReceived(str text, str level): an operator broadcast.
    mediaDropped(str media_id): a deleted message's image/file: drop its cached bytes.
    transferChanged(str key): an upload's or download's progress or state changed.
    fileSaved(str file_id, str path): a download finished and was saved there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from desktop.models.member_list import MemberListModel
from desktop.models.message_list import MessageListModel
from desktop.net.connection import (
    CONNECT_TIMEOUT_S,
    RECONNECT_CAP_S,
    RECONNECT_DELAYS_S,
    ConnectionMixin,
)
from desktop.net.conversation import ConversationMixin
from desktop.net.core import REQUEST_TIMEOUT_S, SEND_TIMEOUT_S, RequestError
from desktop.net.files import FilesMixin
from desktop.net.media import MEDIA_CACHE_BYTES, MediaMixin
from desktop.net.presence import PresenceMixin
from desktop.net.reactions import ReactionsMixin
from desktop.net.receipts import RECEIPT_DEBOUNCE_S, ReceiptsMixin
from desktop.net.rooms import RoomsMixin
from desktop.net.search import SearchMixin
from desktop.net.sending import MAX_SEND_ATTEMPTS, SendingMixin

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_SEND_ATTEMPTS",
    "MEDIA_CACHE_BYTES",
    "RECEIPT_DEBOUNCE_S",
    "RECONNECT_CAP_S",
    "RECONNECT_DELAYS_S",
    "REQUEST_TIMEOUT_S",
    "SEND_TIMEOUT_S",
    "ChatClient",
    "RequestError",
]


class ChatClient(
    FilesMixin, ConnectionMixin, RoomsMixin, ReactionsMixin, ConversationMixin, SendingMixin,
    ReceiptsMixin, PresenceMixin, MediaMixin, SearchMixin,
):
    """The app's connection to one server as one user (signals listed in the module doc)."""

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(data_dir, parent)
        self._init_connection()
        self._init_rooms()
        self._init_sending()
        self._init_conversation()
        self._init_receipts()
        self._init_presence()
        self._init_media()
        self._init_reactions()
        self._init_files()

    async def disconnect(self) -> None:  # type: ignore[override]  # the contract's name
        """Close the connection and stop reconnecting; the outbox stays on disk."""
        await self._disconnect()

    # ------------------------------------------------------------------ properties
    @property
    def limits(self) -> dict[str, Any]:
        return dict(self._limits)

    @property
    def server_info(self) -> dict[str, Any]:
        return dict(self._server_info)

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def is_connected(self) -> bool:
        return self._ready

    def message_model(self, room_id: str) -> MessageListModel:
        """The room's timeline model, created on first use."""
        model = self._message_models.get(room_id)
        if model is None:
            model = MessageListModel(self.messages, room_id, self.username, self)
            model.read_position = lambda: self._read_up_to(room_id)
            self._message_models[room_id] = model
        return model

    def _read_up_to(self, room_id: str) -> int | None:
        room = self.rooms.get(room_id)
        return room.read_up_to if room is not None else None

    def member_model(self, room_id: str) -> MemberListModel:
        """The room's member list model, created on first use (fetched if connected)."""
        model = self._member_models.get(room_id)
        if model is None:
            model = MemberListModel(self.members, room_id, self)
            self._member_models[room_id] = model
            if self._ready and room_id not in self._members_loaded:
                self._spawn(self._refresh_members(room_id))
        return model
