"""The presence concern of ChatClient: who is typing (sent and received, with expiry) and
who is online (the members' dots)."""

from __future__ import annotations

import logging
import time
from typing import Any

import socketio
from PySide6.QtCore import QTimer

from desktop.net.connection import Handler
from desktop.net.core import ClientCore
from server.protocol import TYPING_EXPIRY_S, TYPING_REFRESH_S, Event

logger = logging.getLogger(__name__)


class PresenceMixin(ClientCore):
    """Typing and online state (see the module doc)."""

    def _init_presence(self) -> None:
        self._typing: dict[str, dict[str, float]] = {}  # room -> user -> expiry (monotonic)
        self._typing_sent: dict[str, float] = {}  # room -> when we last sent true
        self._typing_names: dict[str, str] = {}  # lowercased -> as the server spells it
        self._typing_timer = QTimer(self)
        self._typing_timer.setInterval(1000)
        self._typing_timer.timeout.connect(self._on_typing_timer_timeout)

    # ------------------------------------------------------------------ typing out
    def set_typing(self, room: str, typing: bool) -> None:
        """Call on every keystroke (True) and when the draft is sent or cleared (False)."""
        if not self._ready:
            return
        now = time.monotonic()
        last = self._typing_sent.get(room)
        if typing:
            # a little slack so a caller refreshing every TYPING_REFRESH_S is never skipped
            if last is not None and now - last < TYPING_REFRESH_S - 0.5:
                return
            self._typing_sent[room] = now
        else:
            if last is None:
                return
            del self._typing_sent[room]
        self._spawn(self._emit_typing_event(room, typing))

    async def _emit_typing_event(self, room: str, typing: bool) -> None:
        sio = self._sio
        if sio is None or not sio.connected:
            return
        try:
            async with self._emit_lock:
                await sio.emit(str(Event.TYPING), {"room": room, "typing": typing})
        except (socketio.exceptions.SocketIOError, OSError):
            logger.debug("typing not sent: connection gone")

    # ------------------------------------------------------------------ typing in
    def typing_users(self, room: str) -> list[str]:
        """Who is typing in ``room`` now (expired ones already dropped)."""
        return sorted(self._typing_names.get(u, u) for u in self._typing.get(room, {}))

    def _on_typing_timer_timeout(self) -> None:
        now = time.monotonic()
        for room, users in list(self._typing.items()):
            expired = [u for u, until in users.items() if until <= now]
            for user in expired:
                del users[user]
            if expired:
                self._emit_typing(room)

    def _emit_typing(self, room: str) -> None:
        self.typingChanged.emit(room, self.typing_users(room))

    def _start_typing_timer(self) -> None:
        self._typing_timer.start()

    def _stop_typing_timer(self) -> None:
        self._typing_timer.stop()

    def _forget_typing(self, room: str | None = None) -> None:
        if room is not None:
            self._typing.pop(room, None)
            return
        rooms = list(self._typing)
        self._typing.clear()
        for gone in rooms:
            self.typingChanged.emit(gone, [])

    def _stop_typing_of(self, room: str, sender: str | None) -> None:
        """A message from ``sender`` ends their typing there."""
        if sender is not None and sender.lower() in self._typing.get(room, {}):
            self._typing[room].pop(sender.lower(), None)
            self._emit_typing(room)

    # ------------------------------------------------------------------ server events
    def _event_handlers(self) -> dict[str, Handler]:
        return {
            **super()._event_handlers(),
            str(Event.PRESENCE): self._on_presence_event,
            str(Event.TYPING): self._on_typing_event,
        }

    async def _on_presence_event(self, data: dict[str, Any]) -> None:
        user = str(data.get("user") or "")
        state = data.get("state")
        room = data.get("room")
        if state in ("online", "offline"):
            self.members.set_online(user, state == "online")
        elif state == "joined" and room in self._members_loaded:
            self.members.add(str(room), user)
        elif state == "left" and room in self._members_loaded:
            self.members.remove(str(room), user)

    async def _on_typing_event(self, data: dict[str, Any]) -> None:
        room, user = str(data.get("room") or ""), str(data.get("user") or "")
        if not room or not user or self._is_own_name(user):
            return
        users = self._typing.setdefault(room, {})
        if data.get("typing"):
            users[user.lower()] = time.monotonic() + TYPING_EXPIRY_S
            self._typing_names[user.lower()] = user
        else:
            users.pop(user.lower(), None)
        self._emit_typing(room)
