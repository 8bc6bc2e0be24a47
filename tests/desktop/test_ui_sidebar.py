# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""The sidebar and the chrome around the timeline: unread badges and title, switching
rooms (click, Ctrl+K, Alt+Up/Down), creating rooms and DMs, members, connection state,
notifications."""

from __future__ import annotations

import uuid

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from desktop.models.room_list import RoomRoles
from desktop.ui.switcher import QuickSwitcher
from tests.desktop.ui_helpers import find, make_window  # noqa: F401


def _unread(window, room_id: str) -> int:
    model = window.client.room_model
    row = model.row_of(room_id)
    return int(model.index(row, 0).data(RoomRoles.UnreadRole)) if row is not None else -1


def _accept(dialog) -> None:
    for button in dialog.findChildren(QPushButton):
        if button.isDefault():
            button.click()
            return
    raise AssertionError("no default button")


def test_unread_badges_and_window_title(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(alice.create_room("quiet"))
    window.show_room("quiet")
    qtbot.waitUntil(lambda: window.current_room == "quiet" and _unread(window, "general") == 0)
    for i in range(3):
        run(
            bob.call(
                "message:send",
                {"room": "general", "client_id": str(uuid.uuid4()), "text": f"ping {i}"},
            )
        )
    qtbot.waitUntil(lambda: _unread(window, "general") == 3)
    assert window.windowTitle().startswith("(3) ")
    model = alice.room_model
    general = model.index(model.row_of("general"), 0)
    assert general.data(Qt.ItemDataRole.FontRole).bold()
    # the badge is painted: the sidebar looks different with and without it
    with_badge = window.room_list.grab().toImage()
    window.room_list.select_room("general")
    qtbot.waitUntil(lambda: window.current_room == "general")
    qtbot.waitUntil(lambda: _unread(window, "general") == 0)
    assert not window.windowTitle().startswith("(")
    assert window.room_list.grab().toImage() != with_badge


def test_switching_rooms_with_keyboard(server_url, make_client, make_window, run, qtbot):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(alice.create_room("zebra"))
    run(alice.create_room("alpha"))
    qtbot.waitUntil(lambda: alice.room_model.rowCount() == 3)
    window.show_room("general")
    window.switch_action.trigger()  # Ctrl+K
    switcher = window.findChild(QuickSwitcher)
    assert switcher is not None and switcher.isVisible()
    qtbot.keyClicks(switcher.edit, "zeb")
    qtbot.keyClick(switcher.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_room == "zebra")
    # most recently active first: each new room starts with its "created" line
    order = [alice.room_model.index(r, 0).data(RoomRoles.IdRole) for r in range(3)]
    assert order == ["alpha", "zebra", "general"]
    window.prev_room_shortcut.activated.emit()  # Alt+Up
    assert window.current_room == "alpha"
    window.next_room_shortcut.activated.emit()  # Alt+Down
    assert window.current_room == "zebra"
    window.next_room_shortcut.activated.emit()
    assert window.current_room == "general"
    window.next_room_shortcut.activated.emit()  # wraps
    assert window.current_room == "alpha"


def test_create_private_room_and_dm_from_dialogs(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")

    dialog = window.open_create_room()
    dialog.name_edit.setText("Design Review!")
    dialog.private_box.setChecked(True)
    _accept(dialog)
    qtbot.waitUntil(lambda: window.current_room == "design-review")
    room = alice.rooms.get("design-review")
    assert room.kind == "private" and room.owner == "alice"
    menu = window.room_list.context_menu_at(
        window.room_list.visualRect(
            alice.room_model.index(alice.room_model.row_of("design-review"), 0)
        ).center()
    )
    assert [a.text() for a in menu.actions() if a.text()] == [
        "Mute notifications",
        "Invite someone…",
        "Set topic…",
        "Leave room…",
        "Close room for everyone…",
    ]

    # a taken name is refused inside the dialog, in plain words
    again = window.open_create_room()
    again.name_edit.setText("design-review")
    _accept(again)
    qtbot.waitUntil(lambda: again.error_label.isVisible())
    assert again.error_label.text()
    again.reject()

    dm = window.open_new_message()
    dm.edit.setText("bob")
    _accept(dm)
    qtbot.waitUntil(lambda: window.current_room == "dm:alice:bob")
    model = alice.room_model
    index = model.index(model.row_of("dm:alice:bob"), 0)
    assert index.data(RoomRoles.SectionRole) == "Direct messages"
    assert index.data(Qt.ItemDataRole.DisplayRole) == "bob"
    run(
        bob.call(
            "message:send",
            {"room": "dm:alice:bob", "client_id": str(uuid.uuid4()), "text": "hi alice"},
        )
    )
    qtbot.waitUntil(
        lambda: (
            find(alice.message_model("dm:alice:bob"), lambda m: m.text == "hi alice") is not None
        )
    )


def test_members_panel_and_connection_state(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    members = window.member_list
    qtbot.waitUntil(lambda: members.model() is not None and members.model().rowCount() == 2)
    assert window.connection_status.plain_text() == "Connected"
    assert window.members_panel.isVisible()
    qtbot.mouseClick(window.members_button, Qt.MouseButton.LeftButton)
    assert not window.members_panel.isVisible()
    window.members_action.trigger()
    assert window.members_panel.isVisible()

    run(alice.disconnect())
    qtbot.waitUntil(lambda: window.connection_status.plain_text() == "Offline")
    ok = run(alice.connect_to(server_url, {"username": "alice", "password": "not the password"}))
    assert ok is False
    qtbot.waitUntil(window.banner.isVisible)
    assert "refused" in window.banner.label.text()


def test_notifications_for_others_only_when_not_looking(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(bob.call("dm:open", {"user": "alice"}))
    run(
        bob.call(
            "message:send", {"room": "dm:alice:bob", "client_id": str(uuid.uuid4()), "text": "psst"}
        )
    )
    qtbot.waitUntil(lambda: ("bob", "psst") in window.notifier.history)
    alice.send_text("general", "my own words")
    model = alice.message_model("general")
    qtbot.waitUntil(
        lambda: find(model, lambda m: m.text == "my own words" and m.id is not None) is not None
    )
    assert all(body != "my own words" for _t, body in window.notifier.history)
    window.notify_action.setChecked(False)
    run(
        bob.call(
            "message:send",
            {"room": "dm:alice:bob", "client_id": str(uuid.uuid4()), "text": "quiet now"},
        )
    )
    qtbot.waitUntil(
        lambda: (
            find(alice.message_model("dm:alice:bob"), lambda m: m.text == "quiet now") is not None
        )
    )
    assert ("bob", "quiet now") not in window.notifier.history


def test_theme_follows_the_application_palette(server_url, make_client, make_window, qapp, qtbot):
    from PySide6.QtGui import QColor, QPalette

    alice = make_client(server_url, "alice")
    window = make_window(alice)
    original = QPalette(qapp.palette())
    light_sidebar = window.sidebar.palette().color(QPalette.ColorRole.Window)
    dark = QPalette(original)
    for role, colour in (
        (QPalette.ColorRole.Window, "#1f2124"),
        (QPalette.ColorRole.Base, "#26282c"),
        (QPalette.ColorRole.Text, "#e6e6e6"),
        (QPalette.ColorRole.WindowText, "#e6e6e6"),
    ):
        dark.setColor(role, QColor(colour))
    try:
        qapp.setPalette(dark)
        qtbot.waitUntil(
            lambda: window.sidebar.palette().color(QPalette.ColorRole.Window).lightnessF() < 0.3
        )
        assert window.conversation.palette().color(QPalette.ColorRole.Window) == QColor("#26282c")
        assert window.sidebar.palette().color(QPalette.ColorRole.Window) != light_sidebar
    finally:
        qapp.setPalette(original)


def test_connection_status_counts_down(qtbot):
    from desktop.ui.connection_status import ConnectionStatus

    status = ConnectionStatus()
    qtbot.addWidget(status)
    # What the label shows (its tool tip is set only when it renders, so this follows the
    # timer), in order. No wall-clock asserts: a loaded machine may skip any number.
    countdown = ["Reconnecting in 3 s…", "Reconnecting in 2 s…", "Reconnecting in 1 s…"]
    shown: list[str] = []

    def rendered_until_retry() -> bool:
        if not shown or shown[-1] != status.toolTip():
            shown.append(status.toolTip())
        return shown[-1] == "Reconnecting…"

    status.set_state("reconnecting", 3)
    qtbot.waitUntil(rendered_until_retry, timeout=15_000)
    steps = [countdown.index(text) for text in shown[:-1]]
    assert steps and steps == sorted(set(steps)), shown  # counted down, never up
    status.set_state("connected", 0)
    assert status.plain_text() == "Connected"
    assert status.objectName() == status.accessibleName() == "connectionStatus"
