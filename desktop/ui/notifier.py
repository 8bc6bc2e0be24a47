"""Desktop notifications for messages from others, and the rule for when to show one.

Delivery: freedesktop notifications (``org.freedesktop.Notifications.Notify`` on the
session D-Bus) where a notification server runs, which is every mainstream Linux desktop
including stock GNOME (which has no system tray); the system tray elsewhere (Windows,
macOS, or a Linux session without a notification server); and the taskbar entry flashes
either way. The D-Bus call goes through ``jeepney`` on the asyncio loop, never blocking
the window: PySide6-Essentials has QtDBus, but from Python it can only marshal an int
as int32, while ``Notify`` takes a uint32 (``susssasa{sv}i``), so daemons refuse it.

The rule (``should_notify``): never for your own messages, the room on screen in a
focused window, or with notifications off; always for direct messages and mentions
(``@yourname``, ``@room``), in every room; other messages only in rooms the user has not
muted (``AppSettings.set_room_muted``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from desktop.settings import AppSettings
from desktop.state.markdown import plain_text
from desktop.state.types import Message, Room
from desktop.ui import icons

logger = logging.getLogger(__name__)

BODY_CHARS = 160
APP_NAME = "Parley"
EXPIRE_MS = 6000
_BUS_NAME = "org.freedesktop.Notifications"
_OBJECT_PATH = "/org/freedesktop/Notifications"


def mentions(text: str, username: str | None) -> bool:
    """``@username`` (any case, as a whole name) or ``@room`` in ``text``, as
    shared/PROTOCOL.md section 14 reads them: not preceded by a character that can be
    part of a username (letters, digits, ``.``, ``-``, ``_``), and not running on into a
    longer name (a full stop that ends the sentence is fine)."""
    names = ["room"] + ([re.escape(username)] if username else [])
    pattern = rf"(?<![\w.\-@])@(?:{'|'.join(names)})(?![\w-])(?!\.[\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def should_notify(
    msg: Message,
    room: Room | None,
    own_username: str | None,
    settings: AppSettings | None,
    on_screen: bool,
) -> bool:
    """The rule in the module docstring."""
    if settings is not None and not settings.notifications_enabled:
        return False
    if on_screen:
        return False
    if own_username and msg.sender and msg.sender.lower() == own_username.lower():
        return False
    if room is not None and room.kind == "dm":
        return True
    # v2: the server's mentions list is the truth (an @name of a non-member is not one)
    if (msg.mentions_user(own_username) if msg.mentions is not None
            else mentions(msg.text or "", own_username)):
        return True
    return settings is None or not settings.is_room_muted(msg.room)


class DBusNotifications:
    """A session-bus connection to the notification server, opened on first use.

    ``on_activated(notification_id)`` is called when the user clicks a notification
    (its "default" action), so the window can open that conversation.
    """

    def __init__(self, address: str | None = None,
                 on_activated: Callable[[int], None] | None = None) -> None:
        self.address = address or os.environ.get("DBUS_SESSION_BUS_ADDRESS") or ""
        self._router: Any = None
        self._lock = asyncio.Lock()
        self._on_activated = on_activated
        self._listener: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.address)

    async def notify(self, title: str, body: str) -> int:
        """Show one notification; its id. Raises OSError/jeepney errors on failure."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.asyncio import DBusRouter, open_dbus_connection

        async with self._lock:
            if self._router is None:
                conn = await asyncio.wait_for(open_dbus_connection(self.address), 3)
                self._router = DBusRouter(conn)
                await self._router.__aenter__()
                await self._listen_for_clicks()
        target = DBusAddress(_OBJECT_PATH, bus_name=_BUS_NAME, interface=_BUS_NAME)
        call = new_method_call(
            target, "Notify", "susssasa{sv}i",
            (APP_NAME, 0, "parley", title, body, ["default", "Open"], {}, EXPIRE_MS),
        )
        reply = await asyncio.wait_for(self._router.send_and_get_reply(call), 3)
        if reply.header.message_type.name == "error":
            raise OSError(f"notification server refused: {reply.body}")
        return int(reply.body[0])

    async def _listen_for_clicks(self) -> None:
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus

        rule = MatchRule(type="signal", interface=_BUS_NAME, member="ActionInvoked",
                         path=_OBJECT_PATH)
        await asyncio.wait_for(self._router.send_and_get_reply(message_bus.AddMatch(rule)), 3)
        handle = self._router.filter(rule, bufsize=20)
        self._listener = asyncio.ensure_future(self._clicks(handle))

    async def _clicks(self, handle: Any) -> None:
        with handle as queue:
            while True:
                signal = await queue.get()
                notification_id, action = signal.body
                if action == "default" and self._on_activated is not None:
                    self._on_activated(int(notification_id))

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        router, self._router = self._router, None
        if router is not None:
            try:
                await router.__aexit__(None, None, None)
            except (OSError, RuntimeError):
                logger.debug("D-Bus connection did not close cleanly")


class Notifier(QObject):
    """``on_message(...)`` decides and delivers; ``notify(title, body)`` delivers.

    ``history`` keeps what was shown and ``delivered`` how ("dbus", "tray" or "none"),
    newest last (the tests read them).
    """

    def __init__(
        self,
        window: QWidget,
        parent: QObject | None = None,
        settings: AppSettings | None = None,
        bus_address: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._window = window
        self._settings = settings
        self.history: list[tuple[str, str]] = []
        self.delivered: list[str] = []
        self._rooms_by_id: dict[int, str] = {}  # notification id -> its conversation
        self._dbus: DBusNotifications | None = DBusNotifications(
            bus_address, self.on_dbus_notification_activated)
        if not self._dbus.configured:
            self._dbus = None
        self._tray: QSystemTrayIcon | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        if self._dbus is None:
            self._ensure_tray()

    def _ensure_tray(self) -> QSystemTrayIcon | None:
        if self._tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(icons.icon("parley"), self)
            self._tray.setToolTip("Parley")
            self._tray.activated.connect(self.on_tray_activated)
            self._tray.show()
        return self._tray

    def on_message(self, msg: Message, room: Room | None, own_username: str | None,
                   on_screen: bool) -> bool:
        """Notify for ``msg`` if the rule says so; whether it did."""
        if not should_notify(msg, room, own_username, self._settings, on_screen):
            return False
        where = "" if room is None or room.kind == "dm" else f" in #{room.name}"
        body = plain_text(msg.text) or ("sent an image" if msg.kind == "image" else
                                        f"sent {msg.file.name}" if msg.file is not None else "")
        self.notify(f"{msg.sender or 'Parley'}{where}", body, msg.room)
        return True

    def notify(self, title: str, body: str, room: str | None = None) -> None:
        if len(body) > BODY_CHARS:
            body = body[: BODY_CHARS - 1] + "…"
        self.history.append((title, body))
        del self.history[:-50]
        QApplication.alert(self._window, 0)
        if self._dbus is not None:
            try:
                task = asyncio.ensure_future(self._notify_dbus(title, body, room))
            except RuntimeError:  # no event loop running: deliver the other way
                self._notify_tray(title, body)
                return
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._notify_tray(title, body)

    async def _notify_dbus(self, title: str, body: str, room: str | None) -> None:
        assert self._dbus is not None
        try:
            notification_id = await self._dbus.notify(title, body)
        except Exception as exc:  # noqa: BLE001 - no server, refused, bus gone: use the tray
            logger.info("no desktop notification server (%s); using the tray",
                        type(exc).__name__)
            dbus, self._dbus = self._dbus, None
            await dbus.close()
            self._ensure_tray()
            self._notify_tray(title, body)
            return
        if room is not None:
            self._rooms_by_id[notification_id] = room
            while len(self._rooms_by_id) > 50:
                del self._rooms_by_id[next(iter(self._rooms_by_id))]
        self._record("dbus")

    def on_dbus_notification_activated(self, notification_id: int) -> None:
        """The user clicked one of our notifications: bring that conversation up."""
        room = self._rooms_by_id.get(notification_id)
        self.on_tray_activated(QSystemTrayIcon.ActivationReason.Trigger)
        show_room = getattr(self._window, "show_room", None)
        if room is not None and callable(show_room):
            show_room(room)

    def _notify_tray(self, title: str, body: str) -> None:
        tray = self._tray
        if tray is not None and tray.supportsMessages():
            tray.showMessage(title, body, icons.icon("parley"), EXPIRE_MS)
            self._record("tray")
        else:
            self._record("none")

    def _record(self, how: str) -> None:
        self.delivered.append(how)
        del self.delivered[:-50]

    def on_tray_activated(self, _reason: QSystemTrayIcon.ActivationReason) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()

    def hide(self) -> None:
        """The window is closing: drop the tray icon and the bus connection."""
        if self._tray is not None:
            self._tray.hide()
        for task in list(self._tasks):
            task.cancel()
        dbus = self._dbus
        if dbus is not None:
            try:
                closing = asyncio.ensure_future(dbus.close())
            except RuntimeError:
                return
            self._tasks.add(closing)
            closing.add_done_callback(self._tasks.discard)
