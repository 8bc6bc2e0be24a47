# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""The window shell: server text never widens the window, the composer (placeholder,
drafts per room, growth with wrapped text), the keyboard (Tab order, focus rings, human
accessible names, PageUp/PageDown) and the narrow layout."""

from __future__ import annotations

import os
import stat
import uuid

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget

from desktop.settings import AppSettings
from desktop.ui.main_window import MainWindow
from desktop.ui.window_layout import NARROW_BREAKPOINT
from tests.desktop.ui_helpers import make_window, png_bytes  # noqa: F401

LONG = ("A topic that goes on " + "and on " * 27)[:200]  # 200 characters, no newline


class _PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, _obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def test_a_long_topic_room_name_and_user_name_never_widen_the_window(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    window.resize(760, 700)
    qtbot.waitUntil(lambda: window.current_room == "general" and window.width() == 760)
    assert len(LONG) >= 200
    run(alice.set_topic("general", LONG))
    qtbot.waitUntil(lambda: window.room_topic.full_text() == LONG)
    # a room named with 40 characters and a 32-character user DM'ing us
    long_room = "a" * 40
    run(alice.create_room(long_room))
    bob_name = "b" * 32
    bob = make_peer(server_url, bob_name)
    run(bob.call("dm:open", {"user": "alice"}))
    run(
        bob.call(
            "message:send",
            {"room": f"dm:alice:{bob_name}", "client_id": str(uuid.uuid4()), "text": LONG},
        )
    )
    qtbot.waitUntil(lambda: alice.room_model.row_of(f"dm:alice:{bob_name}") is not None)
    window.show_room("general")
    QApplication.processEvents()
    assert window.width() == 760
    assert window.minimumSizeHint().width() <= 760
    assert window.minimumWidth() <= 760
    # the topic is cut, and the full text is in the tooltip
    assert window.room_topic.width() < window.fontMetrics().horizontalAdvance(LONG)
    assert window.room_topic.toolTip() == LONG
    window.show_room(long_room)
    qtbot.waitUntil(lambda: window.room_title.full_text().endswith(long_room))
    QApplication.processEvents()
    assert window.width() == 760 and window.minimumSizeHint().width() <= 760
    # names in the typing line, a notice, a refusal naming a long file: none widens it
    window.composer_panel.set_typing_users([bob_name, "c" * 32])
    window.show_toast("Notice: " + "x" * 300)
    window.composer_panel.show_error("y" * 300 + ".png is not an image Parley can send.")
    QApplication.processEvents()
    assert window.width() == 760 and window.minimumSizeHint().width() <= 760


def test_the_placeholder_names_the_room_at_once(server_url, make_client, make_peer, make_window, run, qtbot):
    alice = make_client(server_url, "alice")
    make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    dm = run(alice.open_dm("bob"))
    window.show_room("general")
    window.composer.setFocus()
    QApplication.processEvents()
    counter = _PaintCounter()
    window.composer.viewport().installEventFilter(counter)
    window.show_room(dm.id)
    assert window.composer.placeholderText() == "Message bob"
    # the empty composer must repaint to show it (Qt only repaints when the placeholder
    # appears or disappears, not when its text changes)
    qtbot.waitUntil(lambda: counter.count > 0, timeout=2000)
    window.composer.viewport().removeEventFilter(counter)


def test_each_room_keeps_its_own_draft_across_restarts(
    server_url, make_client, make_window, run, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    settings = AppSettings(tmp_path / "drafts-app")
    window = MainWindow(alice, settings)
    window.resize(1200, 760)
    window.show()
    qtbot.waitUntil(lambda: window.current_room == "general")
    run(alice.create_room("other"))
    window.show_room("general")
    qtbot.keyClicks(window.composer, "half a thought")
    window.composer_panel.add_mime(_mime_with_png())
    assert len(window.composer_panel.chips) == 1
    window.composer_panel.chips[0].caption.setText("a caption")

    window.show_room("other")
    assert window.composer.toPlainText() == ""
    assert window.composer_panel.chips == []
    assert window.draft_preview("general") == "half a thought"  # the sidebar says "Draft:"
    assert window.draft_preview("other") == ""
    qtbot.keyClicks(window.composer, "for other")
    window.show_room("general")
    assert window.composer.toPlainText() == "half a thought"
    assert [c.caption.text() for c in window.composer_panel.chips] == ["a caption"]

    # nothing leaks into another room's send
    window.show_room("other")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: any(
            m.text == "for other" and m.room == "other"
            for m in alice.messages.messages("other")
        )
    )
    assert not any(m.kind == "image" for m in alice.messages.messages("other"))
    window.show_room("general")
    window.close()
    qtbot.waitUntil(lambda: not window.busy)

    folder = settings.data_dir / "drafts"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

    again = MainWindow(alice, AppSettings(settings.data_dir))
    again.resize(1200, 760)
    again.show()
    try:
        qtbot.waitUntil(lambda: again.current_room == "general")
        assert again.composer.toPlainText() == "half a thought"
        assert [c.caption.text() for c in again.composer_panel.chips] == ["a caption"]
        again.show_room("other")
        assert again.composer.toPlainText() == ""  # sent, so no draft
    finally:
        again.close()
        qtbot.waitUntil(lambda: not again.busy)

    # the same room name for another user (or on another server) has its own draft
    bob = make_client(server_url, "bob")
    bobs = MainWindow(bob, AppSettings(settings.data_dir))
    bobs.show()
    try:
        qtbot.waitUntil(lambda: bobs.current_room == "general")
        assert bobs.composer.toPlainText() == ""
    finally:
        bobs.close()
        qtbot.waitUntil(lambda: not bobs.busy)


def _mime_with_png():
    from PySide6.QtCore import QMimeData

    mime = QMimeData()
    mime.setData("image/png", png_bytes())
    return mime


def test_the_composer_grows_with_soft_wrapped_lines(server_url, make_client, make_window, qtbot):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    window.resize(1000, 760)
    edit = window.composer
    one_line = edit.height()
    edit.setPlainText("word " * 60)  # no newline, but several lines at this width
    qtbot.waitUntil(lambda: edit.visual_lines() >= 3)
    qtbot.waitUntil(lambda: edit.height() >= one_line + 2 * edit.fontMetrics().lineSpacing())
    edit.setPlainText("word " * 2000)
    qtbot.waitUntil(lambda: edit.visual_lines() > 8)
    capped = edit.height()
    assert capped <= one_line + 7 * edit.fontMetrics().lineSpacing() + 1  # at most 8 lines
    edit.clear()
    qtbot.waitUntil(lambda: edit.height() == one_line)
    # a line that fits a wide window wraps when the window narrows: the box grows
    window.resize(1400, 760)
    qtbot.waitUntil(lambda: edit.width() > 600)
    wide = edit.width()
    fits = (wide - 40) // edit.fontMetrics().horizontalAdvance("word ")
    edit.setPlainText("word " * fits)
    qtbot.waitUntil(lambda: edit.visual_lines() == 1)
    assert edit.height() == one_line
    window.resize(720, 760)
    qtbot.waitUntil(lambda: edit.width() < wide * 0.8)
    qtbot.waitUntil(lambda: edit.height() >= one_line + edit.fontMetrics().lineSpacing())


def test_changing_the_placeholder_repaints_the_empty_composer(qtbot):
    from desktop.ui.composer import ComposerEdit

    edit = ComposerEdit()
    qtbot.addWidget(edit)
    edit.setPlaceholderText("Message #general")
    counter = _PaintCounter()
    edit.viewport().installEventFilter(counter)
    edit.show()
    qtbot.waitExposed(edit)
    qtbot.waitUntil(lambda: counter.count > 0)  # the first paint is done
    for _ in range(3):
        QApplication.processEvents()
    counter.count = 0
    edit.setPlaceholderText("Message bob")
    QApplication.processEvents()  # delivers the update request, if one was posted
    assert counter.count > 0, "the old placeholder stays on screen"


def _controls(window: MainWindow) -> list[QWidget]:
    found: list[QWidget] = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible():
            continue
        if isinstance(widget, QAbstractButton) or widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            found.append(widget)
    return found


def test_every_control_has_a_human_accessible_name(
    server_url, make_client, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    window.composer_panel.add_mime(_mime_with_png())
    controls = _controls(window)
    assert window.attach_button in controls and window.send_button in controls
    for widget in controls:
        name = widget.accessibleName()
        assert name, f"{widget.objectName() or widget} has no accessible name"
        assert name != widget.objectName(), f"{name!r} is an objectName"
        assert name[0].isupper(), f"{name!r} does not read as words"
    assert window.attach_button.accessibleName() == "Attach file"  # a v2 server: any file
    assert window.send_button.accessibleName() == "Send message"


def test_tab_walks_the_window_in_order_with_a_visible_focus(
    server_url, make_client, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    qtbot.waitUntil(lambda: window.member_list.model().rowCount() == 1)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.add_button.setFocus()
    expected = [
        window.add_button,
        window.find_button,
        window.room_list,
        window.members_button,
        window.timeline,
        window.attach_button,
        window.composer,
        window.send_button,
        window.member_list,
    ]
    seen = [QApplication.focusWidget()]
    for _ in expected[1:]:
        window.focusNextChild()
        seen.append(QApplication.focusWidget())
    assert seen == expected
    # an image waiting to be sent: its caption and its remove button are stops too
    window.composer_panel.add_mime(_mime_with_png())
    chip = window.composer_panel.chips[0]
    for widget in (chip.caption, chip.remove_button):
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus)
        with_focus = widget.grab().toImage()
        window.composer.setFocus()
        qtbot.waitUntil(lambda w=widget: not w.hasFocus())
        assert widget.grab().toImage() != with_focus, widget.accessibleName()
    # Enter on a room in the list goes on to typing there
    window.room_list.setFocus()
    qtbot.keyClick(window.room_list, Qt.Key.Key_Return)
    assert window.composer.hasFocus()
    # each stop looks different with the focus than without it
    for widget in expected:
        shown = window.composer_panel.box if widget is window.composer else widget
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus)
        with_focus = shown.grab().toImage()
        window.timeline.setFocus(Qt.FocusReason.OtherFocusReason)
        window.menuBar().setFocus()
        qtbot.waitUntil(lambda w=widget: not w.hasFocus())
        assert shown.grab().toImage() != with_focus, f"no focus ring on {widget.accessibleName()}"


def test_page_up_and_down_in_the_composer_scroll_the_timeline(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    for i in range(60):
        run(
            bob.call(
                "message:send",
                {"room": "general", "client_id": str(uuid.uuid4()), "text": f"line {i}"},
            )
        )
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    bar = window.timeline.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 2 * bar.pageStep())
    bar.setValue(bar.maximum() - bar.pageStep() // 2)  # somewhere a page can go both ways
    window.composer.setFocus()
    bottom = bar.value()
    qtbot.keyClick(window.composer, Qt.Key.Key_PageUp)
    assert bar.value() < bottom
    assert window.composer.hasFocus() or QApplication.focusWidget() is None
    qtbot.keyClick(window.composer, Qt.Key.Key_PageDown)
    assert bar.value() == bottom


def test_narrow_windows_fold_the_members_panel_into_a_toggle(
    server_url, make_client, make_window, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    assert window.members_panel.isVisible()
    window.resize(700, 700)
    qtbot.waitUntil(lambda: window.narrow)
    assert NARROW_BREAKPOINT > 700
    assert not window.members_panel.isVisible()
    assert window.splitter.indexOf(window.members_panel) == -1
    assert window.sidebar.width() <= 220
    assert window.conversation.width() >= 450
    assert not window.members_button.isChecked()
    qtbot.mouseClick(window.members_button, Qt.MouseButton.LeftButton)
    assert window.members_panel.isVisible()
    # the overlay sits over the conversation's right edge, under the header
    overlay = window.members_panel.geometry()
    assert overlay.right() >= window.central.width() - 2
    assert overlay.top() >= window.header.height()
    assert window.conversation.width() >= 450  # the conversation keeps its width
    qtbot.mouseClick(window.members_button, Qt.MouseButton.LeftButton)
    assert not window.members_panel.isVisible()
    window.members_action.trigger()  # Ctrl+Shift+M opens it, Escape closes it
    assert window.members_panel.isVisible()
    window.composer.setFocus()
    window.close_overlay_shortcut.activated.emit()
    assert not window.members_panel.isVisible()
    assert not window.close_overlay_shortcut.isEnabled()
    window.resize(1300, 760)
    qtbot.waitUntil(lambda: not window.narrow)
    assert window.splitter.indexOf(window.members_panel) == 2
    assert window.members_panel.isVisible()  # the wide layout remembers the choice
    qtbot.waitUntil(lambda: window.sidebar.width() == window.wide_sidebar)  # not squeezed
    assert os.environ.get("QT_QPA_PLATFORM") == "offscreen"


def test_drafts_stay_bounded(tmp_path, monkeypatch):
    from desktop.ui import drafts
    from desktop.ui.attachments import Attachment

    monkeypatch.setattr(drafts, "MAX_DRAFTS", 3)
    monkeypatch.setattr(drafts, "MAX_DRAFT_BYTES", 1000)
    store = drafts.DraftStore(tmp_path)
    for n in range(5):
        store.set(f"room{n}", drafts.Draft(f"text {n}"))
    assert store.rooms() == ["room2", "room3", "room4"]
    big = Attachment(data=b"x" * 600, name="a.png", mime="image/png")
    store.set("img1", drafts.Draft("", [(big, "")]))
    store.set("img2", drafts.Draft("", [(Attachment(b"y" * 600, "b.png", "image/png"), "")]))
    assert "img1" not in store.rooms() and "img2" in store.rooms()
    assert len(list((tmp_path / "drafts").glob("*.json"))) == len(store.rooms())
    again = drafts.DraftStore(tmp_path)
    assert again.get("img2").attachments[0][0].data == b"y" * 600
