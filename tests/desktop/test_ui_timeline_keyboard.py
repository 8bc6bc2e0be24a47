# ruff: noqa: F811  (pytest fixtures imported from helpers are injected by name)
"""The timeline by keyboard and screen reader, partial text selection, animated GIFs."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QAccessible, QGuiApplication, QMouseEvent
from PySide6.QtWidgets import QApplication, QMenu

from desktop.models.message_list import MessageRoles
from desktop.state.messages import MessageStore
from desktop.state.types import DeliveryStatus, Message
from desktop.ui.timeline import TimelineView
from tests.desktop.timeline_helpers import (
    BASE_TS,
    ROOM,
    gif_bytes,
    image_msg,
    make_timeline,  # noqa: F401
    png_bytes,
    text_msg,
    varied_texts,
)
from tests.desktop.ui_helpers import make_window  # noqa: F401


def _focus_by_tab(view: TimelineView, qtbot) -> None:
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow)
    view.clearFocus()  # (the only widget of its window took focus when shown)
    view.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(view.hasFocus)


def _popup_menu(qtbot) -> QMenu:
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    return menu


def test_arrows_move_a_visible_focus_between_messages(make_timeline, qtbot):
    view = make_timeline(varied_texts(30), width=900, height=500)
    qtbot.waitUntil(view.is_at_bottom)
    _focus_by_tab(view, qtbot)
    last = view.model().rowCount() - 1
    assert view.currentIndex().row() == last  # focus lands on the newest message on screen
    assert view.delegate.show_focus
    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.currentIndex().row() == last - 2
    for _ in range(25):
        qtbot.keyClick(view, Qt.Key.Key_Up)
    current = view.currentIndex()
    rect = view.visualRect(current)
    assert view.viewport().rect().intersects(rect)  # the focused message is scrolled to
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == last
    # the focus ring is painted around the focused message only while focus is visible
    image = view.viewport().grab().toImage()
    assert not image.isNull()


# a popup menu on the offscreen platform cannot grab the keyboard (a real X server does)
@pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard")
def test_enter_opens_the_focused_image_and_the_menu_key_opens_its_actions(
    make_timeline, qtbot
):
    msgs = [text_msg(1, "hello there"), image_msg(2, 640, 360, thumb=png_bytes(64, 36))]
    view = make_timeline(msgs, width=900, height=500)
    _focus_by_tab(view, qtbot)
    assert view.currentIndex().row() == 1
    with qtbot.waitSignal(view.imageActivated) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert blocker.args[0].id == 2

    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_Menu)
    menu = _popup_menu(qtbot)
    assert [a.text() for a in menu.actions()] == ["Copy text", "React…"]
    menu.close()
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None)

    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    menu = _popup_menu(qtbot)
    assert "Open image" in [a.text() for a in menu.actions()]
    menu.close()


def test_ctrl_c_copies_the_focused_message(make_timeline, qtbot):
    view = make_timeline([text_msg(1, "first"), text_msg(2, "second one")], width=800)
    _focus_by_tab(view, qtbot)
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "second one"


def test_screen_readers_hear_sender_time_and_text(make_timeline, qtbot):
    msg = text_msg(1, "hello")
    view = make_timeline([msg], width=800)
    index = view.model().index(0, 0)
    from datetime import datetime

    when = datetime.fromtimestamp(msg.ts / 1000).strftime("%H:%M")
    assert index.data(Qt.ItemDataRole.AccessibleTextRole) == f"bob, {when}: hello"
    iface = QAccessible.queryAccessibleInterface(view)
    assert iface is not None
    names = [iface.child(i).text(QAccessible.Text.Name) for i in range(iface.childCount())]
    assert f"bob, {when}: hello" in names


def test_own_message_description_says_its_delivery(make_timeline, qtbot):
    msg = text_msg(1, "mine", sender="alice")
    msg.status = DeliveryStatus.READ
    view = make_timeline([msg], width=800)
    assert view.model().index(0, 0).data(Qt.ItemDataRole.AccessibleDescriptionRole) == "Read"


def _drag(view: TimelineView, start: QPoint, end: QPoint) -> None:
    vp = view.viewport()
    for kind, pos, buttons in (
        (QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseMove, (start + end) / 2, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseMove, end, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton),
    ):
        event = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)),
                            Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, event)


def _char_pos(view: TimelineView, row: int, char: int) -> QPoint:
    index = view.model().index(row, 0)
    lay = view.delegate.layout_for(view.option_for(index), index)
    line = lay.text_layout.lineForTextPosition(char)
    x = line.cursorToX(char)[0]
    origin = lay.text_origin + QPointF(view.visualRect(index).topLeft())
    return QPoint(round(origin.x() + x), round(origin.y() + line.y() + line.height() / 2))


def test_part_of_a_message_can_be_selected_with_the_mouse_and_copied(make_timeline, qtbot):
    text = "please copy exactly this part and nothing else"
    view = make_timeline([text_msg(1, "before"), text_msg(2, text)], width=900, height=400)
    start, end = text.index("exactly"), text.index(" and")
    _drag(view, _char_pos(view, 1, start), _char_pos(view, 1, end))
    assert view.selection.text() == "exactly this part"
    assert view.delegate.selection is not None  # painted highlighted
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "exactly this part"
    # the context menu offers the selection too
    menu = view.context_menu_at(_char_pos(view, 1, start + 2))
    assert menu is not None and menu.actions()[0].text() == "Copy selection"
    menu.deleteLater()
    # a double-click selects one word
    pos = _char_pos(view, 1, text.index("nothing") + 2)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert view.selection.text() == "nothing"
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert view.selection.text() == ""


def test_gifs_animate_only_while_on_screen(make_timeline, qtbot):
    store = MessageStore("alice")
    gif = Message(id=None, room=ROOM, sender="alice", ts=BASE_TS + 100 * 60_000, kind="image",
                  client_id="gif-1", local_image=gif_bytes(4), status=DeliveryStatus.PENDING)
    store.add_many(ROOM, varied_texts(40))  # the GIF, sent after them, is the newest row
    store.add_pending(gif)
    view = make_timeline([], width=900, height=500, store=store)
    qtbot.waitUntil(view.is_at_bottom)
    view.animations.schedule()
    qtbot.waitUntil(lambda: view.animations.running == ["local:gif-1"])
    frame = view.animations.frame(gif)
    assert frame is not None and not frame.isNull()
    view.verticalScrollBar().setValue(0)  # scrolled far away
    qtbot.waitUntil(lambda: view.animations.running == [])
    view.scroll_to_latest()
    qtbot.waitUntil(lambda: view.animations.running == ["local:gif-1"])
    assert view.model().index(view.model().rowCount() - 1, 0).data(MessageRoles.ItemRole) is gif


def test_a_gif_from_the_server_animates_in_the_window(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    import uuid

    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    ack = run(bob.call("message:send", {
        "room": "general", "client_id": str(uuid.uuid4()),
        "image": {"data": gif_bytes(4, (80, 60)), "name": "wave.gif"},
    }))
    image_id = ack["message"]["image"]["id"]
    timeline = window.timeline
    qtbot.waitUntil(lambda: timeline.animations.running == [image_id], timeout=10_000)
    msg = next(m for m in timeline.image_messages() if m.image and m.image.id == image_id)
    assert timeline.animations.frame(msg) is not None


def test_gifs_stop_when_the_timeline_is_hidden(make_timeline, qtbot):
    store = MessageStore("alice")
    gif = Message(id=None, room=ROOM, sender="alice", ts=BASE_TS, kind="image",
                  client_id="gif-2", local_image=gif_bytes(3), status=DeliveryStatus.PENDING)
    store.add_pending(gif)
    view = make_timeline([], width=600, height=400, store=store)
    qtbot.waitUntil(lambda: view.animations.running == ["local:gif-2"])
    view.hide()
    qtbot.waitUntil(lambda: view.animations.running == [])
