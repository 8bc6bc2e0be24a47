# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""Reaching people and rooms (profile popover, Ctrl+N, Ctrl+K), leaving with a clear
confirmation, the room menu (right click, mute), and the small things around them:
About, the theme choice, geometry on a smaller screen, avatar contrast."""

from __future__ import annotations

import uuid

from PySide6.QtCore import QByteArray, QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QCompleter, QLabel, QPushButton

from desktop.models.room_list import RoomRoles
from desktop.settings import AppSettings
from desktop.ui import theme
from desktop.ui.dialogs import AboutDialog, ConfirmDialog, username_from, username_problem
from desktop.ui.main_window import MainWindow
from desktop.ui.people import ProfilePopover
from desktop.ui.switcher import QuickSwitcher
from tests.desktop.ui_helpers import make_window  # noqa: F401


def _row_rect(window, room_id):
    model = window.client.room_model
    return window.room_list.visualRect(model.index(model.row_of(room_id), 0))


def test_clicking_a_member_opens_a_profile_with_message(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    members = window.member_list
    qtbot.waitUntil(lambda: members.model() is not None and members.model().rowCount() == 2)
    names = [members.model().index(r, 0).data(Qt.ItemDataRole.DisplayRole) for r in range(2)]
    bob_row = names.index("bob")
    rect = members.visualRect(members.model().index(bob_row, 0))
    qtbot.mouseClick(members.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.findChild(ProfilePopover) is not None)
    popover = window.findChild(ProfilePopover)
    assert popover.isVisible() and popover.name == "bob"
    assert popover.status_label.text() == "Online"
    assert popover.message_button.isVisible()
    qtbot.mouseClick(popover.message_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.current_room == "dm:alice:bob")
    # one's own row says so and offers no DM with oneself
    me = window.open_profile("alice", QPoint(400, 300))
    assert not me.message_button.isVisible()
    me.close()
    # the keyboard reaches it too: Enter on the focused row
    window.show_room("general")
    qtbot.waitUntil(lambda: members.model().rowCount() == 2)
    members.setFocus()
    members.setCurrentIndex(members.model().index(bob_row, 0))
    with qtbot.waitSignal(members.memberActivated) as blocker:
        qtbot.keyClick(members, Qt.Key.Key_Return)
    assert blocker.args[0] == "bob"


def test_new_message_offers_known_people_as_you_type(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    make_peer(server_url, "bob")
    make_peer(server_url, "bea")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    qtbot.waitUntil(lambda: window.member_list.model().rowCount() == 3)
    window.dm_action.trigger()  # Ctrl+N
    dialog = window.findChild(type(window.open_new_message()).__mro__[0])
    completer = dialog.edit.completer()
    assert isinstance(completer, QCompleter)
    completer.setCompletionPrefix("b")
    offered = [
        completer.completionModel().index(r, 0).data()
        for r in range(completer.completionModel().rowCount())
    ]
    assert offered == ["bea", "bob"]  # never ourselves


def test_ctrl_k_finds_rooms_people_and_public_rooms_not_joined(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    assert "room" in run(bob.call("room:create", {"name": "roadmap"}))
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    qtbot.waitUntil(lambda: window.member_list.model().rowCount() == 2)
    run(alice.create_room("random"))
    window.show_room("general")
    run(bob.call("room:join", {"room": "random"}))
    run(
        bob.call(
            "message:send",
            {"room": "random", "client_id": str(uuid.uuid4()), "text": "psst"},
        )
    )
    qtbot.waitUntil(lambda: alice.rooms.get("random").last_message.text == "psst")
    unread_random = alice.rooms.get("random").unread
    assert unread_random >= 1

    window.switch_action.trigger()
    switcher = window.findChild(QuickSwitcher)
    assert switcher is not None and switcher.isVisible()
    qtbot.waitUntil(lambda: ("public", "roadmap") in switcher.entries())
    entries = switcher.entries()
    assert ("room", "general") in entries and ("room", "random") in entries
    assert ("person", "bob") in entries and ("person", "alice") not in entries
    unread = {
        switcher.proxy.index(r, 0).data(Qt.ItemDataRole.DisplayRole): switcher.proxy.index(
            r, 0
        ).data(Qt.ItemDataRole.UserRole + 3)
        for r in range(switcher.proxy.rowCount())
    }
    assert unread["#random"] == unread_random
    assert all(
        not switcher.proxy.index(r, 0).data(Qt.ItemDataRole.DecorationRole).isNull()
        for r in range(switcher.proxy.rowCount())
    )
    switcher.reject()
    qtbot.mouseClick(window.find_button, Qt.MouseButton.LeftButton)  # the sidebar's search box
    switcher = [s for s in window.findChildren(QuickSwitcher) if s.isVisible()][0]
    qtbot.waitUntil(lambda: ("public", "roadmap") in switcher.entries())
    # a public room not joined yet: Enter joins it
    qtbot.keyClicks(switcher.edit, "road")
    assert switcher.entries() == [("public", "roadmap")]
    qtbot.keyClick(switcher.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_room == "roadmap")
    # a person: Enter opens the DM
    window.switch_action.trigger()
    switcher = [s for s in window.findChildren(QuickSwitcher) if s.isVisible()][0]
    qtbot.keyClicks(switcher.edit, "bob")
    assert switcher.entries()[0] == ("person", "bob")
    qtbot.keyClick(switcher.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_room == "dm:alice:bob")
    # closed before the server answers: the late answer is dropped quietly
    window.switch_action.trigger()
    late = [s for s in window.findChildren(QuickSwitcher) if s.isVisible()][0]
    late.reject()
    qtbot.waitUntil(lambda: not window.busy)


def test_leaving_asks_first_and_warns_about_private_rooms(
    server_url, make_client, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(alice.create_room("secret", private=True))
    run(alice.create_room("open"))
    qtbot.waitUntil(lambda: alice.room_model.row_of("open") is not None)

    window.room_list.leaveRequested.emit("secret")
    dialog = window.findChild(ConfirmDialog)
    assert dialog is not None and dialog.isVisible()
    assert "cannot rejoin" in dialog.text_label.text() and "invite" in dialog.text_label.text()
    # Enter does not leave: Cancel is the default
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert alice.room_model.row_of("secret") is not None

    confirm = window.leave_room("open")
    assert "cannot rejoin" not in confirm.text_label.text()
    assert "join it again" in confirm.text_label.text()
    qtbot.mouseClick(confirm.action_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: alice.room_model.row_of("open") is None)


def test_right_click_opens_the_menu_without_switching_and_mute_goes_through_the_window(
    server_url, make_client, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(alice.create_room("quiet"))
    window.show_room("general")
    qtbot.waitUntil(lambda: alice.room_model.row_of("quiet") is not None)
    rect = _row_rect(window, "quiet")
    qtbot.mousePress(window.room_list.viewport(), Qt.MouseButton.RightButton, pos=rect.center())
    qtbot.mouseRelease(window.room_list.viewport(), Qt.MouseButton.RightButton, pos=rect.center())
    assert window.current_room == "general"
    assert window.room_list.current_room_id() == "general"

    calls: list[tuple[str, bool]] = []
    original = window.set_room_muted
    window.room_list.muteToggled.disconnect()
    window.room_list.muteToggled.connect(
        lambda room, on: (calls.append((room, on)), original(room, on))
    )
    menu = window.room_list.context_menu_at(rect.center())
    mute = next(a for a in menu.actions() if a.text() == "Mute notifications")
    assert mute.isCheckable() and not mute.isChecked()
    mute.trigger()
    assert calls == [("quiet", True)]
    assert window.is_room_muted("quiet")
    assert AppSettings(window.settings.data_dir).is_room_muted("quiet")  # persisted
    menu = window.room_list.context_menu_at(_row_rect(window, "quiet").center())
    assert next(a for a in menu.actions() if a.text() == "Mute notifications").isChecked()


def test_rooms_move_up_with_activity_without_switching_the_room_on_screen(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(alice.create_room("later"))
    window.show_room("later")
    run(bob.call("room:join", {"room": "later"}))
    model = alice.room_model
    run(
        bob.call(
            "message:send",
            {"room": "general", "client_id": str(uuid.uuid4()), "text": "news in general"},
        )
    )
    qtbot.waitUntil(lambda: model.index(0, 0).data(RoomRoles.IdRole) == "general")
    assert window.current_room == "later"
    assert window.room_list.current_room_id() == "later"
    # the row shows the last message and its time
    room = model.index(0, 0).data(RoomRoles.ItemRole)
    from desktop.ui.sidebar import preview_text, short_time

    assert preview_text(room, "alice") == "bob: news in general"
    assert short_time(room.last_message.ts)


def test_empty_states_always_offer_a_way_forward(server_url, make_client, make_window, run, qtbot):
    alice = make_client(server_url, "alice", connect=False)
    window = make_window(alice)
    assert window.empty_state.isVisible() and not window.timeline.isVisible()
    assert set(window.empty_state.buttons) == {"local", "sign_in"}
    assert window.empty_state.buttons["local"].text() == "Start chatting here"
    with qtbot.waitSignal(window.localRequested):
        window.empty_state.buttons["local"].click()
    with qtbot.waitSignal(window.signInRequested):
        window.empty_state.buttons["sign_in"].click()

    assert run(alice.connect_to(server_url, {"username": "alice", "password": "correct horse battery"}))
    qtbot.waitUntil(lambda: window.current_room == "general")
    assert window.timeline.isVisible() and not window.empty_state.isVisible()
    run(alice.leave_room("general"))
    qtbot.waitUntil(lambda: window.empty_state.isVisible())
    assert set(window.empty_state.buttons) == {"browse", "create", "dm"}
    assert window.current_room is None

    run(alice.logout())
    qtbot.waitUntil(lambda: window.empty_state.state == "signed_out")
    assert window.empty_state.isVisible()
    assert window.user_label.full_text() == "Not signed in"  # nothing stale is left
    assert not window.members_panel.isVisible()
    # keyboard users land on the way forward
    assert window.empty_state.buttons["local"].hasFocus() or not window.isActiveWindow()


def test_about_is_a_dialog_with_version_server_and_licence(
    server_url, make_client, make_window, qtbot
):
    from server import __version__

    alice = make_client(server_url, "alice")
    window = make_window(alice)
    dialog = window.open_about()
    assert isinstance(dialog, AboutDialog) and dialog.isVisible()
    text = " ".join(line.full_text() for line in dialog.lines)
    assert __version__ in dialog.findChild(QLabel, "aboutTitle").text()
    assert server_url in text and "MIT" in text
    assert not window.toast.isVisible()
    long_name = AboutDialog("1.0", "x" * 500, "MIT", window)
    qtbot.addWidget(long_name)
    long_name.show()
    assert long_name.minimumSizeHint().width() < 600


def test_the_theme_is_chosen_in_the_app_and_remembered(
    server_url, make_client, make_window, qapp, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    original = QPalette(qapp.palette())
    try:
        window.resize(700, 700)  # through the narrow layout and back: nothing gets stuck
        qtbot.waitUntil(lambda: window.narrow)
        window.resize(1200, 760)
        qtbot.waitUntil(lambda: not window.narrow)
        window.theme_actions["dark"].trigger()
        for panel in (window.sidebar, window.members_panel, window.member_list):
            qtbot.waitUntil(
                lambda p=panel: p.palette().color(QPalette.ColorRole.Window).lightnessF() < 0.3
            )
        assert AppSettings(window.settings.data_dir).theme == "dark"
        window.theme_actions["light"].trigger()
        qtbot.waitUntil(lambda: not theme.is_dark(qapp.palette()))
        window.theme_actions["system"].trigger()
        assert AppSettings(window.settings.data_dir).theme == "system"
    finally:
        qapp.setPalette(original)


def test_a_geometry_saved_on_a_bigger_screen_is_clamped(make_client, qtbot, tmp_path):
    client = make_client(None, "alice", connect=False)
    settings = AppSettings(tmp_path / "geo")
    big = MainWindow(client, settings)
    big.setGeometry(4000, 3000, 5000, 4000)  # a monitor that is not there any more
    settings.window_geometry = QByteArray(big.saveGeometry())
    settings.sync()
    big.deleteLater()
    window = MainWindow(client, AppSettings(settings.data_dir))
    qtbot.addWidget(window)
    window.show()
    area = QGuiApplication.primaryScreen().availableGeometry()
    qtbot.waitUntil(lambda: area.contains(window.geometry()))
    assert window.width() <= area.width() and window.height() <= area.height()


def test_avatar_initials_stay_readable_in_both_themes():
    names = ["alice", "bob", "carol", "dave", "eve", "yusuf", "zoë", "mallory", "x", "团队"]
    for palette in (theme.light_palette(), theme.dark_palette()):
        for name in names:
            disc = theme.avatar_colour(name, palette)
            assert theme.contrast_ratio(disc, theme.initials_colour(disc)) >= 4.5, name
            # and the disc stands out from the background it sits on
            base = palette.color(QPalette.ColorRole.Base)
            assert theme.contrast_ratio(disc, base) >= 1.5, name
    assert theme.contrast_ratio(QColor("white"), QColor("black")) > 20


def test_a_display_name_with_spaces_becomes_a_username_or_says_why():
    assert username_from("Ann Lee") == "Ann-Lee"
    assert username_from("  zoë  ") == "zo"
    assert username_from("a" * 50) == "a" * 32
    assert username_problem("Ann Lee") == ""
    assert "Latin letters" in username_problem("Жанна")
    assert username_problem("   ") != ""


def test_first_run_shows_the_derived_username_without_clipping(qtbot):
    from desktop.ui.dialogs import FirstRunDialog

    dialog = FirstRunDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name_edit.setText("Ann Lee")
    assert dialog.username_label.text() == "Your username will be Ann-Lee."
    dialog.name_edit.setText("Жанна")
    next(b for b in dialog.findChildren(type(dialog.start_button)) if b.isDefault()).click()
    assert dialog.error_label.isVisible()
    QApplication.processEvents()
    # the sentence wraps inside the dialog instead of being cut off
    assert dialog.error_label.wordWrap()
    assert dialog.error_label.width() <= dialog.width()
    assert dialog.error_label.height() >= dialog.error_label.heightForWidth(
        dialog.error_label.width()
    )


def test_closing_a_dialog_before_the_server_answers_is_harmless(
    server_url, make_client, make_window, run, qtbot, caplog
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    browse = window.open_browse_rooms()
    browse.reject()  # deletes itself; the rooms:list answer comes later
    create = window.open_create_room()
    create.name_edit.setText("quick")
    next(b for b in create.findChildren(type(create.findChild(QPushButton))) if b.isDefault()).click()
    create.reject()
    qtbot.waitUntil(lambda: not window.busy)
    qtbot.waitUntil(lambda: window.current_room == "quick")  # it was created all the same
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_dm_row_shows_whether_the_person_is_online(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    qtbot.waitUntil(lambda: window.member_list.model().rowCount() == 2)
    run(alice.open_dm("bob"))
    window.show_room("general")
    qtbot.waitUntil(lambda: alice.room_model.row_of("dm:alice:bob") is not None)
    assert window.room_list.is_online("bob")
    rect = _row_rect(window, "dm:alice:bob")
    online = window.room_list.viewport().grab(rect).toImage()
    run(bob.close())
    qtbot.waitUntil(lambda: not alice.members.is_online("bob"))
    qtbot.waitUntil(lambda: window.room_list.viewport().grab(rect).toImage() != online)
