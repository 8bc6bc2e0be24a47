"""Notifications reach a desktop without a system tray: over a real session D-Bus to a
notification server (a small stand-in registered as org.freedesktop.Notifications),
for DMs and mentions everywhere, and for other messages only in rooms not muted."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.asyncio import open_dbus_connection

from desktop.state.types import Message, Room
from desktop.ui.notifier import Notifier, mentions, should_notify
from tests.desktop.ui_helpers import make_window  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                                reason="needs dbus-daemon (apt: dbus)")


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private session bus (a real dbus-daemon) for one test; its address."""
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class NotificationServer:
    """Owns org.freedesktop.Notifications on the bus and records every Notify call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, address: str) -> None:
        self._conn = await open_dbus_connection(address)
        await self._conn.send(message_bus.Hello())
        await self._conn.receive()
        await self._conn.send(message_bus.RequestName("org.freedesktop.Notifications"))
        while True:  # the reply to RequestName (NameAcquired signals may come first)
            reply = await self._conn.receive()
            if reply.header.message_type == MessageType.method_return:
                assert reply.body[0] == 1  # primary owner
                break
        self._task = asyncio.ensure_future(self._serve())

    async def _serve(self) -> None:
        while True:
            msg = await self._conn.receive()
            if (msg.header.message_type == MessageType.method_call
                    and msg.header.fields.get(HeaderFields.member) == "Notify"):
                self.calls.append(tuple(msg.body))
                await self._conn.send(new_method_return(msg, "u", (len(self.calls),)))

    async def click(self, notification_id: int) -> None:
        """What the desktop does when the user clicks the notification's body."""
        target = DBusAddress("/org/freedesktop/Notifications",
                             interface="org.freedesktop.Notifications")
        await self._conn.send(new_signal(target, "ActionInvoked", "us",
                                         (notification_id, "default")))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()


@pytest.fixture
def notification_server(session_bus: str, run: Any) -> Iterator[NotificationServer]:
    server = NotificationServer()
    run(server.start(session_bus))
    yield server
    run(server.stop())


def test_dms_and_mentions_notify_everywhere_and_muted_rooms_stay_quiet_over_dbus(
    notification_server: NotificationServer, session_bus: str, server_url: str,
    make_client: Any, make_peer: Any, make_window: Any, run: Any, qtbot: Any,  # noqa: F811
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    run(alice.create_room("side"))
    window.show_room("side")  # #general is not on screen
    calls = notification_server.calls

    def say(text: str, room: str = "general") -> None:
        run(bob.call("message:send", {"room": room, "client_id": text, "text": text}))

    say("plain hello")
    # the stand-in records the call before it replies; the app knows its id (which the
    # click below needs) only once the reply has come back over the bus
    qtbot.waitUntil(lambda: len(calls) == 1 and window.notifier.delivered == ["dbus"],
                    timeout=10_000)
    app_name, replaces, _icon, summary, body, actions, hints, expire = calls[0]
    assert (app_name, replaces, summary, body) == ("Parley", 0, "bob in #general",
                                                   "plain hello")
    assert actions == ["default", "Open"] and hints == {} and expire > 0
    assert window.notifier.delivered == ["dbus"]
    # clicking it opens that conversation
    run(notification_server.click(1))
    qtbot.waitUntil(lambda: window.current_room == "general", timeout=10_000)
    window.show_room("side")

    window.settings.set_room_muted("general", True)
    assert window.settings.is_room_muted("general")
    say("muted chatter")
    say("hey @alice, look")
    say("@room standup now")
    dm = run(bob.call("dm:open", {"user": "alice"}))["room"]["id"]
    say("psst", room=dm)
    qtbot.waitUntil(lambda: len(calls) == 4, timeout=10_000)
    assert [c[4] for c in calls] == ["plain hello", "hey @alice, look", "@room standup now",
                                     "psst"]
    assert calls[3][3] == "bob"  # a DM is titled by the person
    assert "muted chatter" not in [body for _t, body in window.notifier.history]
    # the mute is kept in the settings file, for the next start
    window.settings.sync()
    from desktop.settings import AppSettings

    assert AppSettings(window.settings.data_dir).is_room_muted("general")
    window.settings.set_room_muted("general", False)
    assert not AppSettings(window.settings.data_dir).is_room_muted("general")


def test_without_a_notification_server_it_falls_back_to_the_tray_path(
    session_bus: str, qtbot: Any, run: Any, qloop: Any
) -> None:
    from PySide6.QtWidgets import QWidget

    window = QWidget()
    notifier = Notifier(window, bus_address=session_bus)  # a bus, but nobody serves Notify
    notifier.notify("bob in #general", "hello")
    qtbot.waitUntil(lambda: len(notifier.delivered) == 1, timeout=10_000)
    # offscreen has no tray either: it says so instead of pretending
    assert notifier.delivered == ["none"] and notifier.history == [("bob in #general", "hello")]
    notifier.notify("bob", "again")  # later ones go straight to the tray path
    assert notifier.delivered == ["none", "none"]
    notifier.hide()
    qtbot.waitUntil(lambda: not notifier._tasks)
    window.deleteLater()


def test_the_rule() -> None:
    general = Room(id="general", name="general", kind="public")
    dm = Room(id="dm:alice:bob", name="bob", kind="dm")

    def msg(text: str, room: Room = general, sender: str = "bob") -> Message:
        return Message(id=1, room=room.id, sender=sender, ts=0, kind="text", text=text)

    assert mentions("hi @Alice!", "alice") and mentions("@room: lunch", "alice")
    assert not mentions("mail alice@example.com", "alice")
    assert not mentions("@alice2 hi", "alice") and not mentions("@roomy", "alice")
    assert mentions("thanks @alice.", "alice") and mentions("(@alice)", "alice")
    assert not mentions("x.@alice", "alice") and not mentions("@alice.b", "alice")
    assert should_notify(msg("hi"), general, "alice", None, on_screen=False)
    assert not should_notify(msg("hi"), general, "alice", None, on_screen=True)
    assert not should_notify(msg("mine", sender="Alice"), general, "alice", None, False)
    assert should_notify(msg("hi", dm), dm, "alice", None, False)
