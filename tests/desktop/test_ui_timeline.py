# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""The timeline view: scroll-back through history, jump to latest, retry of failed sends."""

from __future__ import annotations

import uuid

from PySide6.QtCore import Qt

from desktop.models.message_list import MessageRoles
from desktop.state.types import DeliveryStatus
from tests.desktop.ui_helpers import find, make_window, row_of  # noqa: F401


def _send_many(run, peer, count: int, prefix: str = "msg") -> None:
    async def go() -> None:
        for i in range(count):
            await peer.call(
                "message:send",
                {"room": "general", "client_id": str(uuid.uuid4()), "text": f"{prefix} {i}"},
            )

    run(go(), timeout=60)


def test_scrolling_to_the_top_loads_older_history_and_keeps_the_view_steady(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    _send_many(run, bob, 130)
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")
    timeline = window.timeline
    bar = timeline.verticalScrollBar()
    qtbot.waitUntil(lambda: model.rowCount() >= 50 and bar.maximum() > 0)
    qtbot.waitUntil(timeline.is_at_bottom)  # a room opens at its newest message
    first_count = model.rowCount()
    assert find(model, lambda m: m.text == "msg 129") is not None
    assert find(model, lambda m: m.text == "msg 0") is None

    for _ in range(10):
        if not timeline.more_history:
            break
        before = model.rowCount()
        anchor_id = model.index(0, 0).data(MessageRoles.IdRole)
        bar.setValue(0)  # the user drags to the top
        y_before = timeline.visualRect(model.index(0, 0)).top()
        qtbot.waitUntil(
            lambda before=before: model.rowCount() > before or not timeline.more_history,
            timeout=10_000,
        )
        if model.rowCount() > before:
            # the message that was at the top is still where it was on screen
            def steady(anchor_id=anchor_id, y_before=y_before) -> bool:
                row = row_of(model, lambda m: m.id == anchor_id)
                return abs(timeline.visualRect(model.index(row, 0)).top() - y_before) <= 2

            qtbot.waitUntil(steady)
    assert model.rowCount() > first_count
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == "msg 0") is not None)
    texts = [model.index(r, 0).data(MessageRoles.TextRole) for r in range(model.rowCount())]
    ours = [t for t in texts if t.startswith("msg ")]
    assert ours == [f"msg {i}" for i in range(130)]  # complete, ordered, no duplicates


def test_new_messages_while_scrolled_up_offer_jump_to_latest(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    bob = make_peer(server_url, "bob")
    _send_many(run, bob, 40)
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    timeline = window.timeline
    bar = timeline.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    timeline.more_history = False  # this test is about the bottom, not history
    bar.setValue(bar.maximum() // 3)
    assert not timeline.is_at_bottom()
    value = bar.value()
    run(
        bob.call(
            "message:send", {"room": "general", "client_id": str(uuid.uuid4()), "text": "new one"}
        )
    )
    qtbot.waitUntil(lambda: timeline.jump_button.isVisible() and timeline.new_below == 1)
    assert timeline.jump_button.text() == "1 new message ↓"
    assert bar.value() == value  # reading position untouched
    qtbot.mouseClick(timeline.jump_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(timeline.is_at_bottom)
    assert not timeline.jump_button.isVisible()
    # at the bottom, new messages keep it pinned there
    run(
        bob.call(
            "message:send", {"room": "general", "client_id": str(uuid.uuid4()), "text": "another"}
        )
    )
    model = alice.message_model("general")
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == "another") is not None)
    qtbot.waitUntil(timeline.is_at_bottom)
    assert not timeline.jump_button.isVisible()


def test_a_refused_message_offers_delete_not_a_retry_that_cannot_help(
    server_url, make_client, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")
    too_long = "y" * (int(alice.limits.get("max_text_chars", 4000)) + 5)
    alice.send_text("general", too_long)  # the server refuses it (the composer would not)
    qtbot.waitUntil(
        lambda: (
            find(model, lambda m: m.text == too_long and m.status == DeliveryStatus.FAILED)
            is not None
        )
    )
    row = row_of(model, lambda m: m.text == too_long)
    index = model.index(row, 0)
    assert index.data(MessageRoles.ReceiptTextRole).startswith("Not sent")
    timeline = window.timeline
    timeline.scrollToBottom()
    option = timeline.option_for(index)
    layout = timeline.delegate.layout_for(option, index)
    assert layout.meta_text == "Not sent"  # too large: sending it again cannot help
    click = option.rect.topLeft() + layout.meta_rect.center()
    kind, _value = timeline.delegate.hit_test(option, index, click)
    assert kind != "retry"
    menu = timeline.context_menu_at(timeline.visualRect(index).center())
    assert menu is not None
    assert [a.text() for a in menu.actions()] == ["Copy text", "Delete message"]
    menu.actions()[1].trigger()
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == too_long) is None)
    assert alice.outbox.entries() == []


def test_grouping_own_bubbles_system_lines_and_receipt_tooltip(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")
    for text in ("first from bob", "second from bob"):
        run(
            bob.call(
                "message:send", {"room": "general", "client_id": str(uuid.uuid4()), "text": text}
            )
        )
    alice.send_text("general", "mine")
    qtbot.waitUntil(
        lambda: find(model, lambda m: m.text == "mine" and m.id is not None) is not None
    )
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == "second from bob") is not None)
    timeline = window.timeline

    def layout(predicate):
        index = model.index(row_of(model, predicate), 0)
        return (
            index,
            timeline.option_for(index),
            timeline.delegate.layout_for(timeline.option_for(index), index),
        )

    _i, _o, first = layout(lambda m: m.text == "first from bob")
    _i, _o, second = layout(lambda m: m.text == "second from bob")
    assert first.avatar_rect is not None and first.name_rect is not None
    assert second.avatar_rect is None and second.name_rect is None  # grouped under the first
    assert second.bubble_rect.left() == first.bubble_rect.left()
    mine_index, mine_option, mine = layout(lambda m: m.text == "mine")
    width = mine_option.rect.width()
    assert mine.avatar_rect is None and mine.name_rect is None
    assert width - mine.bubble_rect.right() < 30  # own messages sit on the right
    assert first.bubble_rect.left() < width / 3  # others' on the left
    _i, _o, system = layout(lambda m: m.kind == "system")
    assert system.system_rect is not None and system.bubble_rect is None
    assert abs(system.system_rect.center().x() - width / 2) <= 2  # centred

    # the receipt tooltip on an own message's status
    run(
        bob.call(
            "message:receipt",
            {"room": "general", "id": find(model, lambda m: m.text == "mine").id, "state": "read"},
        )
    )
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == "mine").status == DeliveryStatus.READ)
    timeline.scrollToBottom()
    qtbot.waitUntil(
        lambda: timeline.visualRect(mine_index).bottom() <= timeline.viewport().height()
    )
    rect = timeline.visualRect(mine_index)
    mine = timeline.delegate.layout_for(timeline.option_for(mine_index), mine_index)
    pos = rect.topLeft() + mine.status_rect.center()
    event = QHelpEvent(QEvent.Type.ToolTip, pos, timeline.viewport().mapToGlobal(pos))
    QApplication.sendEvent(timeline.viewport(), event)
    qtbot.waitUntil(lambda: QToolTip.text().startswith("Read"))
