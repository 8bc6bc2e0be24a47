# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""Guards for the timeline's performance behaviour (issue 3's Performance table).

The view shows a window of the newest rows (TimelineWindowModel) that grows upward from
memory before the server is asked for history and is trimmed back at the bottom; a
flood of appends stays bounded; receipts are coalesced. No wall-clock asserts: the
figures themselves come from bench/gui_timeline.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageListModel, MessageRoles
from desktop.models.timeline_window import GROW_ROWS, WINDOW_ROWS, TimelineWindowModel
from desktop.state.messages import MessageStore
from desktop.state.types import Message
from desktop.ui.timeline import TimelineView
from tests.desktop.ui_helpers import make_window  # noqa: F401

BASE_TS = 1_790_000_000_000


def _msg(i: int, room: str = "big") -> Message:
    sender = "carol" if i % 4 == 0 else "bob"
    return Message(
        id=i + 1,
        room=room,
        sender=sender,
        ts=BASE_TS + i * 30_000,
        kind="text",
        text=f"message {i}: the quick brown fox" + " jumps" * (i % 5),
    )


def _filled_store(count: int) -> MessageStore:
    store = MessageStore("viewer")
    store.add_many("big", [_msg(i) for i in range(count)])
    return store


def _window_ids(model: Any) -> list[int]:
    return [model.index(r, 0).data(MessageRoles.IdRole) for r in range(model.rowCount())]


@pytest.fixture
def view(qtbot: Any) -> Iterator[TimelineView]:
    timeline = TimelineView(ImageDecoder())
    timeline.resize(700, 600)
    qtbot.addWidget(timeline)
    timeline.show()
    qtbot.waitExposed(timeline)
    yield timeline
    timeline.setModel(None)


def test_window_model_is_a_valid_model_through_appends_growth_trims_and_removals(qtmodeltester):
    store = _filled_store(400)
    source = MessageListModel(store, "big", "viewer")
    window = TimelineWindowModel(source, window_rows=50)
    qtmodeltester.check(window, force_py=True)
    assert window.rowCount() == 50 and window.first == 350
    assert _window_ids(window) == list(range(351, 401))

    store.add_many("big", [_msg(i) for i in range(400, 420)])
    source.flush()
    window.release()  # the batch the append timer would announce
    assert _window_ids(window) == list(range(351, 421))

    assert window.grow(30) == 30
    assert window.first == 320 and _window_ids(window)[0] == 321
    assert window.trim(40) == 60
    assert _window_ids(window) == list(range(381, 421))

    # a pending echo appears and goes away again: the window follows
    echo = Message(
        id=None,
        room="big",
        sender="viewer",
        ts=BASE_TS + 10**9,
        kind="text",
        text="draft",
        client_id=uuid.uuid4().hex,
    )
    store.add_pending(echo)
    source.flush()
    window.release()
    assert window.index(window.rowCount() - 1, 0).data(MessageRoles.TextRole) == "draft"
    assert store.remove_pending(echo.client_id or "")
    source.flush()
    assert _window_ids(window) == list(range(381, 421))
    src_rows = [source.index(r, 0).data(MessageRoles.IdRole) for r in range(source.rowCount())]
    assert _window_ids(window) == src_rows[window.first :]
    assert window.mapFromSource(source.index(0, 0)) == QModelIndex()
    assert window.mapToSource(window.index(0, 0)).row() == window.first


def test_a_room_with_2000_messages_shows_only_a_window(view, qtbot):
    store = _filled_store(2000)
    source = MessageListModel(store, "big", "viewer")
    view.setModel(source)
    shown = view.model()
    assert isinstance(shown, TimelineWindowModel)
    assert shown.rowCount() == WINDOW_ROWS
    assert _window_ids(shown)[-1] == 2000  # the newest message, at the bottom
    qtbot.waitUntil(view.is_at_bottom)
    # indexes of the room's model work with the view too (tests and callers use them)
    newest = source.index(source.rowCount() - 1, 0)
    assert view.visualRect(newest).isValid()
    assert not view.visualRect(source.index(0, 0)).isValid()  # outside the window


def test_scrolling_to_the_top_grows_the_window_from_memory_before_asking_the_server(view, qtbot):
    store = _filled_store(2000)
    source = MessageListModel(store, "big", "viewer")
    view.setModel(source)
    window = view.window_model
    assert window is not None
    asked: list[bool] = []
    view.loadOlderRequested.connect(lambda: asked.append(True))
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and view.is_at_bottom())

    for grown in (1, 2):
        qtbot.waitUntil(lambda: bar.value() > 0)  # laid out, anchored: not at the top yet
        anchor_id = window.index(0, 0).data(MessageRoles.IdRole)  # at y 0 once at the top
        bar.setValue(0)  # the user drags to the top
        qtbot.waitUntil(lambda g=grown: window.rowCount() == WINDOW_ROWS + g * GROW_ROWS)
        assert asked == []  # grown from memory, no history request
        assert _window_ids(window)[0] == 2000 - WINDOW_ROWS - grown * GROW_ROWS + 1

        def steady(anchor_id: int = anchor_id) -> bool:
            row = _window_ids(window).index(anchor_id)
            return abs(view.visualRect(window.index(row, 0)).top()) <= 2

        qtbot.waitUntil(steady)  # older rows went in above; the view did not jump

    # grow all the way; only at the oldest message in memory is the server asked
    for _ in range(40):
        if window.at_source_top():
            break
        qtbot.waitUntil(lambda: bar.value() > 0)
        before = window.rowCount()
        bar.setValue(0)
        qtbot.waitUntil(lambda before=before: window.rowCount() > before)
    assert window.at_source_top() and window.rowCount() == 2000
    assert asked == []
    qtbot.waitUntil(lambda: bar.value() > 0)
    bar.setValue(0)
    qtbot.waitUntil(lambda: asked != [])

    view.scroll_to_latest()  # jump to latest shrinks the window back
    assert window.rowCount() == WINDOW_ROWS
    qtbot.waitUntil(view.is_at_bottom)
    assert _window_ids(window)[-1] == 2000


def test_a_flood_at_the_bottom_keeps_the_window_small_and_the_view_pinned(view, qtbot):
    store = _filled_store(300)
    source = MessageListModel(store, "big", "viewer")
    view.setModel(source)
    window = view.window_model
    assert window is not None
    qtbot.waitUntil(view.is_at_bottom)
    largest = [window.rowCount()]
    window.rowsInserted.connect(lambda *_: largest.append(window.rowCount()))
    for batch in range(20):  # 1,000 messages in 20 bursts, as the network delivers them
        store.add_many("big", [_msg(i) for i in range(300 + batch * 50, 350 + batch * 50)])
        qtbot.wait(1)
    qtbot.waitUntil(lambda: _window_ids(window)[-1:] == [1300])
    qtbot.waitUntil(lambda: window.rowCount() <= WINDOW_ROWS)
    qtbot.waitUntil(view.is_at_bottom)
    assert source.rowCount() == 1300
    assert max(largest) < 1300 - 300  # never laid out the whole flood
    assert not view.jump_button.isVisible()


def test_receipts_are_coalesced_and_cover_the_last_message(
    server_url, make_client, make_peer, run, qtbot
):
    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")
    alice.receipt_debounce_s = 1.0  # wide enough that the burst below shares a receipt

    async def burst() -> list[int]:
        acks = await asyncio.gather(
            *(
                bob.call(
                    "message:send",
                    {"room": "general", "client_id": uuid.uuid4().hex, "text": f"m{i}"},
                )
                for i in range(50)
            )
        )
        return [int(a["message"]["id"]) for a in acks]

    ids = run(burst())
    last = max(ids)

    def delivered_by_alice() -> list[dict[str, Any]]:
        return [
            s
            for s in bob.of("message:status")
            if s.get("by") == "alice" and s.get("state") == "delivered"
        ]

    qtbot.waitUntil(lambda: any(s["up_to"] == last for s in delivered_by_alice()), timeout=15_000)
    assert len(delivered_by_alice()) < 10  # far fewer than one per message
    assert alice.messages.newest_id("general") == last


def test_receipts_waiting_for_the_debounce_are_sent_on_a_room_switch(
    server_url, make_client, make_peer, run, qtbot
):
    bob = make_peer(server_url, "bob")
    alice = make_client(server_url, "alice")
    alice.receipt_debounce_s = 600.0  # only the room switch can send it in this test
    alice.set_active_room("general")
    ack = run(
        bob.call("message:send", {"room": "general", "client_id": uuid.uuid4().hex, "text": "hi"})
    )
    msg_id = int(ack["message"]["id"])
    qtbot.waitUntil(lambda: alice.messages.newest_id("general") == msg_id)
    alice.set_active_room(None)
    qtbot.waitUntil(
        lambda: any(
            s.get("by") == "alice" and s.get("up_to") == msg_id for s in bob.of("message:status")
        ),
        timeout=10_000,
    )


def test_history_arriving_while_following_the_bottom_stays_above_a_full_window(view, qtbot):
    store = MessageStore("viewer")
    store.add_many("big", [_msg(i) for i in range(1000, 1400)])
    source = MessageListModel(store, "big", "viewer")
    view.setModel(source)
    window = view.window_model
    assert window is not None
    qtbot.waitUntil(view.is_at_bottom)
    before = _window_ids(window)
    store.add_many("big", [_msg(i) for i in range(900, 1000)])  # an older page arrives
    qtbot.waitUntil(lambda: source.rowCount() == 500)
    assert _window_ids(window) == before  # nothing to lay out while at the bottom
    assert window.first == 500 - WINDOW_ROWS
