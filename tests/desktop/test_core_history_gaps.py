"""Stretches of history with gaps between them (a far jump loads the history *around* a
message): MessageStore.add_range keeps the gaps true as pages fill them from either side,
changes inside a gap are not inserted, and TimelineWindowModel never spans a gap."""

from __future__ import annotations

from typing import Any

from desktop.models.message_list import MessageListModel, MessageRoles
from desktop.models.timeline_window import TimelineWindowModel
from desktop.state.messages import MessageStore
from desktop.state.types import Change, DeliveryStatus, Message

T0 = 1_764_100_000_000


def msg(mid: int, text: str = "hello", seq: int = 0) -> Message:
    return Message(id=mid, room="general", sender="bob", ts=T0 + mid, kind="text",
                   text=text, seq=seq, status=DeliveryStatus.SENT)


def run_of(lo: int, hi: int) -> list[Message]:
    return [msg(i) for i in range(lo, hi + 1)]


def ids(store: MessageStore) -> list[int]:
    return [m.id for m in store.messages("general") if m.id is not None]


def test_a_run_far_below_the_held_history_leaves_one_gap_and_pages_close_it() -> None:
    store = MessageStore("alice")
    store.add_many("general", run_of(900, 950))  # the newest page, as a room opens
    # the history around message 300 (two pages: up to it, after it)
    assert store.add_range("general", run_of(250, 350)) == 101
    assert store.gaps("general") == [(350, 900)]
    assert store.in_gap("general", 600) and not store.in_gap("general", 300)
    assert ids(store) == list(range(250, 351)) + list(range(900, 951))
    # scrolling down from 350 pages after it: the gap shrinks from below
    store.add_range("general", run_of(351, 450), after=350)
    assert store.gaps("general") == [(450, 900)]
    # scrolling up from 900 pages before it: the gap shrinks from above
    store.add_range("general", run_of(800, 899), before=900)
    assert store.gaps("general") == [(450, 800)]
    # a page that reaches the other side closes it
    store.add_range("general", run_of(451, 800), after=450)
    assert store.gaps("general") == []
    assert ids(store) == list(range(250, 951))


def test_runs_inside_a_gap_split_it_and_the_last_page_of_a_room_closes_all_above() -> None:
    store = MessageStore("alice")
    store.add_many("general", run_of(900, 950))
    store.add_range("general", run_of(100, 150))
    store.add_range("general", run_of(500, 520))  # a second jump, into the gap
    assert store.gaps("general") == [(150, 500), (520, 900)]
    # overlapping the held edge of a stretch: no new gap on that side
    store.add_range("general", run_of(140, 160))
    assert store.gaps("general") == [(160, 500), (520, 900)]
    # a page with no newer ones after it ends every gap above its anchor
    store.add_range("general", run_of(161, 170), after=160, newer_more=False)
    assert store.gaps("general") == []
    # older than everything, and the room's very first message: no gap below either
    store.add_range("general", run_of(1, 10), older_more=False)
    assert store.gaps("general") == [(10, 100)]


def test_an_empty_page_into_a_gap_closes_it() -> None:
    store = MessageStore("alice")
    store.add_many("general", run_of(900, 950))
    store.add_range("general", run_of(100, 150))
    assert store.gaps("general") == [(150, 900)]
    assert store.add_range("general", [], after=150) == 0  # nothing between after all
    assert store.gaps("general") == []


def test_changes_to_messages_inside_a_gap_are_not_inserted_but_held_ones_change() -> None:
    store = MessageStore("alice")
    changes: list[Change] = []
    store.subscribe(changes.append)
    store.add_many("general", run_of(900, 950))
    store.add_range("general", run_of(100, 150))
    changes.clear()
    # an edit of 600 (inside the gap) and of 120 (held, far back), as message:changes
    made = store.apply_changes("general", [msg(600, "edited", seq=5), msg(120, "edited", seq=6)])
    assert made == 0
    assert store.get("general", 600) is None
    held = store.get("general", 120)
    assert held is not None and held.text == "edited"
    assert [c.kind for c in changes] == ["updated"]
    # a new message after the newest still lands at the bottom
    assert store.apply_changes("general", [msg(951, "new", seq=7)]) == 1


def _window_over(store: MessageStore, qtbot: Any, rows: int = 40) -> TimelineWindowModel:
    model = MessageListModel(store, "general")
    return TimelineWindowModel(model, rows)


def _window_ids(window: TimelineWindowModel) -> list[int]:
    return [window.index(r, 0).data(MessageRoles.IdRole) for r in range(window.rowCount())]


def test_the_window_never_spans_a_gap_and_goes_live_again(qtbot: Any) -> None:
    store = MessageStore("alice")
    store.add_many("general", run_of(900, 919))  # 20 newest rows: the window shows all
    store.add_range("general", run_of(100, 199))
    window = _window_over(store, qtbot, rows=40)
    source = window.source()
    assert isinstance(source, MessageListModel)
    source.flush()
    assert source.gap_rows() == [100]  # the row of message 900 has the gap above it
    # a live window over the newest stretch does not show the stretch above the gap
    assert _window_ids(window) == list(range(900, 920))
    assert window.live and window.at_stretch_top() and not window.at_source_top()
    assert window.grow(50) == 0
    # opened around message 150: rows on both sides, none from the other stretch
    window.recenter(source.row_for_id(150) or 0, above=10, below=10)
    assert _window_ids(window) == list(range(140, 161))
    assert not window.live
    assert window.grow(100) == 40 and _window_ids(window)[0] == 100
    assert window.grow_down(100) == 39 and _window_ids(window)[-1] == 199
    assert window.at_stretch_bottom() and window.grow_down() == 0 and not window.live
    # new messages arrive at the bottom of the room: not shown in this window
    store.add_many("general", [msg(920), msg(921)])
    source.flush()
    assert _window_ids(window)[-1] == 199 and window.release() == 0
    # the gap fills from below; the window grows into it and, at the newest row, is live
    store.add_range("general", run_of(200, 899), after=199)
    assert store.gaps("general") == [(899, 900)]  # has_more: a page more tells
    store.add_range("general", run_of(900, 921), after=899, newer_more=False)
    source.flush()
    assert source.gap_rows() == []
    assert _window_ids(window)[-1] == 199  # rows below a window that is not live wait
    while not window.live:
        assert window.grow_down(300) > 0
    assert _window_ids(window)[-1] == 921
    # back to the present from the middle: the newest rows only
    window.recenter(source.row_for_id(500) or 0)
    assert not window.live
    window.go_live()
    assert window.live and _window_ids(window) == list(range(882, 922))


def test_history_landing_above_a_gap_stays_out_of_a_window_at_the_rooms_top(
    qtbot: Any,
) -> None:
    store = MessageStore("alice")
    store.add_many("general", run_of(900, 909))
    window = _window_over(store, qtbot, rows=40)
    source = window.source()
    assert isinstance(source, MessageListModel)
    assert window.first == 0 and window.rowCount() == 10
    store.add_range("general", run_of(100, 149))  # far back, with a gap after it
    source.flush()
    assert _window_ids(window) == list(range(900, 910))
    assert window.first == 50 and window.at_stretch_top()
