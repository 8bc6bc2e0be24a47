# ruff: noqa: F811  (pytest fixtures imported from helpers are injected by name)
"""The floating jump button and date pill, read receipts only for what was seen, and the
"New messages" divider a room opens at."""

from __future__ import annotations

import uuid

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from desktop.models.message_list import MessageRoles, day_label
from desktop.state.messages import first_unread_id
from desktop.state.types import Message
from desktop.ui.timeline import TimelineView
from tests.desktop.timeline_helpers import make_timeline, text_msg, varied_texts  # noqa: F401
from tests.desktop.ui_helpers import make_window  # noqa: F401


def _send(run, peer, count: int, prefix: str, room: str = "general") -> list[int]:
    async def go() -> list[int]:
        ids = []
        for i in range(count):
            ack = await peer.call(
                "message:send",
                {"room": room, "client_id": str(uuid.uuid4()), "text": f"{prefix} {i}"},
            )
            ids.append(ack["message"]["id"])
        return ids

    return run(go(), timeout=60)


def _reads(peer) -> list[int]:
    return [s["up_to"] for s in peer.of("message:status") if s["state"] == "read"]


def _delivered(peer) -> list[int]:
    return [s["up_to"] for s in peer.of("message:status") if s["state"] == "delivered"]


def _in_view(view: TimelineView, widget) -> QPoint:
    return widget.mapTo(view, QPoint(0, 0))


def test_jump_button_floats_over_the_bottom_while_the_timeline_scrolls(make_timeline, qtbot):
    view = make_timeline(varied_texts(80), width=900, height=600)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(view.is_at_bottom)
    bar.setValue(bar.maximum() - 3 * view.viewport().height())
    qtbot.waitUntil(view.jump_button.isVisible)
    where = _in_view(view, view.jump_button)
    area = view.viewport().geometry()
    button = view.jump_button.geometry().translated(where - view.jump_button.pos())
    assert area.contains(button)
    assert 0 <= area.bottom() - button.bottom() <= 40  # at the bottom of the timeline
    for step in (-400, -250, 120, -700):
        bar.setValue(bar.value() + step)
        assert _in_view(view, view.jump_button) == where  # scrolling never moves it
    assert view.jump_button.isVisible()
    # and it follows the timeline's size
    view.resize(700, 500)
    qtbot.waitUntil(lambda: _in_view(view, view.jump_button) != where)
    area = view.viewport().geometry()
    bottom = _in_view(view, view.jump_button).y() + view.jump_button.height()
    assert 0 <= area.bottom() - bottom <= 40


def test_sticky_date_pill_shows_the_day_of_the_top_message_while_scrolling(
    make_timeline, qtbot
):
    day = 24 * 3600 * 1000
    msgs = [text_msg(i + 1, f"old day message {i} " * 4, ts=1_790_000_000_000 + i * 60_000)
            for i in range(40)]
    msgs += [text_msg(100 + i, f"new day message {i} " * 4,
                      ts=1_790_000_000_000 + 3 * day + i * 60_000) for i in range(40)]
    view = make_timeline(msgs, width=900, height=500)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(view.is_at_bottom)
    pill = view.overlays.date_pill
    bar.setValue(bar.maximum() - 50)  # the view's own scrolling shows no pill
    assert not pill.isVisible()
    bar.setValue(260)
    vp = view.viewport()
    wheel = QWheelEvent(QPointF(50, 50), QPointF(vp.mapToGlobal(QPoint(50, 50))), QPoint(),
                        QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)  # the user scrolls up into the older day
    qtbot.waitUntil(pill.isVisible)
    top = view.indexAt(QPoint(view.viewport().width() // 2, 2))
    assert pill.text() == day_label(top.data(MessageRoles.TimestampRole))
    assert pill.text() != "Today"
    where = _in_view(view, pill)
    bar.setValue(300)
    assert _in_view(view, pill) == where  # floats: scrolling does not carry it away
    assert pill.parent() is view and view.jump_button.parent() is view


def test_divider_position_comes_from_the_unread_count():
    msgs = [
        Message(id=1, room="r", sender="bob", ts=1, kind="text", text="a"),
        Message(id=2, room="r", sender="alice", ts=2, kind="text", text="mine"),
        Message(id=3, room="r", sender="bob", ts=3, kind="text", text="b"),
        Message(id=4, room="r", sender="alice", ts=4, kind="text", text="mine too"),
        Message(id=5, room="r", sender="carol", ts=5, kind="text", text="c"),
    ]
    assert first_unread_id(msgs, 0, "alice") is None
    assert first_unread_id(msgs, 1, "alice") == 5
    assert first_unread_id(msgs, 2, "Alice") == 3  # own messages are never unread
    assert first_unread_id(msgs, 3, "alice") == 1
    assert first_unread_id(msgs, 99, "alice") == 1  # more than loaded: the oldest loaded


def test_read_receipts_only_cover_what_was_on_screen(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")  # a member before: her reads are news to bob
    before = _send(run, bob, 40, "before")
    window = make_window(alice)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.waitUntil(lambda: window.current_room == "general")
    timeline: TimelineView = window.timeline
    bar = timeline.verticalScrollBar()
    qtbot.waitUntil(lambda: timeline.model().rowCount() >= 40)
    timeline.scroll_to_latest()  # 40 unread: the room opened at the divider; read them all
    qtbot.waitUntil(lambda: before[-1] in _reads(bob))  # at the bottom: all of it was seen

    timeline.more_history = False
    bar.setValue(0)  # far up, reading old messages
    assert not timeline.is_at_bottom()
    new_ids = _send(run, bob, 3, "while away")
    qtbot.waitUntil(lambda: timeline.jump_button.text() == "3 new messages ↓")
    assert timeline.jump_button.isVisible()
    qtbot.waitUntil(lambda: max(_delivered(bob), default=0) >= new_ids[-1])
    # a later message, delivered in a later batch of receipts: once bob hears of it, any
    # `read` alice sent with the first batch has reached him too
    barrier = _send(run, bob, 1, "barrier")
    qtbot.waitUntil(lambda: max(_delivered(bob), default=0) >= barrier[-1])
    # delivered, but not read: they were never on screen
    assert max(_reads(bob), default=0) < new_ids[0]
    assert timeline.seen.reported("general") < new_ids[0]

    timeline.jump_button.click()
    qtbot.waitUntil(lambda: max(_reads(bob), default=0) == barrier[-1])


def test_unfocused_window_reports_nothing_seen(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    timeline: TimelineView = window.timeline
    other = make_window(make_client(server_url, "carol"), name="other")
    other.activateWindow()
    qtbot.waitUntil(lambda: not window.isActiveWindow())
    ids = _send(run, bob, 2, "unfocused")
    qtbot.waitUntil(lambda: max(_delivered(bob), default=0) >= ids[-1])
    assert timeline.seen.reported("general") < ids[0]
    window.activateWindow()
    qtbot.waitUntil(lambda: max(_reads(bob), default=0) >= ids[-1])


def test_room_opens_at_the_new_messages_divider_when_it_is_off_screen(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    _send(run, bob, 10, "read already")
    alice = make_client(server_url, "alice")
    run(alice.create_room("dev"))
    window = make_window(alice)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.show_room("dev")
    qtbot.waitUntil(lambda: window.current_room == "dev")
    unread_ids = _send(run, bob, 30, "unread message with a few words in it")
    qtbot.waitUntil(lambda: alice.rooms.get("general").unread == 30)
    window.show_room("general")
    timeline: TimelineView = window.timeline
    qtbot.waitUntil(lambda: timeline.unread_marker_id == unread_ids[0])
    model = timeline.model()
    row = next(r for r in range(model.rowCount())
               if model.index(r, 0).data(MessageRoles.IdRole) == unread_ids[0])
    rect = timeline.visualRect(model.index(row, 0))
    assert 0 <= rect.top() < timeline.viewport().height() // 2  # the divider is at the top
    assert not timeline.is_at_bottom()
    assert timeline.jump_button.isVisible()
    assert timeline.jump_button.text() == "30 new messages ↓"
    index = model.index(row, 0)
    lay = timeline.delegate.layout_for(timeline.option_for(index), index)
    assert lay.unread_rect is not None  # "New messages" is drawn above it
    # only what is on screen is read: not the 30th unread message below
    seen = timeline.seen
    qtbot.waitUntil(lambda: seen.reported("general") >= unread_ids[0])
    assert seen.reported("general") < unread_ids[-1]
    qtbot.waitUntil(lambda: max(_reads(bob), default=0) >= unread_ids[0])
    assert max(_reads(bob)) < unread_ids[-1]


def test_room_with_a_few_unread_opens_at_the_bottom_with_the_divider_on_screen(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    _send(run, bob, 20, "old")
    alice = make_client(server_url, "alice")
    run(alice.create_room("dev"))
    window = make_window(alice)
    window.show_room("dev")
    qtbot.waitUntil(lambda: window.current_room == "dev")
    unread_ids = _send(run, bob, 2, "fresh")
    qtbot.waitUntil(lambda: alice.rooms.get("general").unread == 2)
    window.show_room("general")
    timeline: TimelineView = window.timeline
    qtbot.waitUntil(lambda: timeline.unread_marker_id == unread_ids[0])
    qtbot.waitUntil(timeline.is_at_bottom)
    assert not timeline.jump_button.isVisible()


def test_thousands_unread_open_without_laying_out_thousands_of_rows(make_timeline, qtbot):
    from desktop.ui.timeline import MAX_DIVIDER_ROWS

    msgs = [text_msg(i + 1, f"unread {i}") for i in range(3000)]
    view = make_timeline(msgs, width=800, height=500)
    view.set_unread(2500)
    assert view.unread_marker_id == 501  # the divider belongs above the 2,500th from the end
    assert view.model().rowCount() <= MAX_DIVIDER_ROWS  # but the window stays bounded
    # it opens around the divider, which sits at the top of the view, not at the bottom
    window = view.window_model
    assert window is not None and not window.live
    divider = view.model().index(501 - 1 - window.first, 0)
    assert divider.data(MessageRoles.IdRole) == 501
    assert 0 <= view.visualRect(divider).top() < view.viewport().height() // 2
    assert view.jump_button.text() == "2500 new messages ↓"
    view.scroll_to_latest()  # and the way down to the newest is one click
    assert window.live and view.is_at_bottom()
