"""A jump far back in the real window against a real server: a reply's parent 600
messages back is opened with the history around it (two requests, not every page down to
it), the view sits in the middle of the room with "Jump to latest", new messages wait
below, and scrolling fills the gap from either side until the history is whole."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from desktop.models.message_list import MessageRoles
from desktop.net.client import ChatClient
from desktop.ui.conversation import row_index
from tests.desktop.ui_helpers import make_window, send_as  # noqa: F401

FILLER = 600


def _history_requests(client: ChatClient, calls: list[dict]) -> None:
    """Record every message:history the client asks (the real call still goes out)."""
    original = client._call

    async def recording(event: str, payload: dict, *args: Any, **kwargs: Any) -> Any:
        if event == "message:history":
            calls.append(dict(payload))
        return await original(event, payload, *args, **kwargs)

    client._call = recording  # type: ignore[method-assign]


def test_a_parent_far_back_opens_in_the_middle_and_the_gap_fills_both_ways(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    for i in range(30):
        send_as(run, bob, f"early {i}")
    parent = send_as(run, bob, "the very first question")
    for i in range(FILLER):
        send_as(run, bob, f"filler {i}")
    reply = send_as(run, bob, "answering the first", reply_to=parent["id"])
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.show_room("general")
    timeline = window.timeline
    qtbot.waitUntil(lambda: row_index(timeline, reply["id"]).isValid())
    assert alice.messages.get("general", parent["id"]) is None
    calls: list[dict] = []
    _history_requests(alice, calls)

    # a click on the quote opens the parent with the history around it
    index = row_index(timeline, reply["id"])
    lay = timeline.delegate.layout_for(timeline.option_for(index), index)
    assert lay.quote_rect is not None
    click = lay.quote_rect.center() + timeline.visualRect(index).topLeft()
    qtbot.mouseClick(timeline.viewport(), Qt.MouseButton.LeftButton, pos=click)
    qtbot.waitUntil(lambda: timeline.delegate.flash_id == parent["id"], timeout=20000)
    assert len(calls) == 2  # a page up to it and a page after it, not 12 pages down
    assert {"before", "after"} == {k for c in calls for k in c if k in ("before", "after")}
    target = row_index(timeline, parent["id"])
    assert target.isValid()
    assert timeline.viewport().rect().intersects(timeline.visualRect(target))
    assert timeline.currentIndex() == target
    assert alice.messages.count("general") <= 50 + 101
    [(gap_lo, gap_hi)] = alice.messages.gaps("general")
    assert parent["id"] < gap_lo < gap_hi < reply["id"]
    window_model = timeline.window_model
    assert window_model is not None and not window_model.live
    assert not timeline.jump_button.isHidden()

    # a new message while the view sits in the middle: held, not shown, nothing moves
    top_before = timeline.visualRect(target).top()
    news = send_as(run, bob, "news while you read old stuff")
    qtbot.waitUntil(lambda: alice.messages.get("general", news["id"]) is not None)
    timeline.source_model().flush()
    qtbot.wait(60)
    assert not row_index(timeline, news["id"]).isValid()
    assert timeline.visualRect(target).top() == top_before

    # "Jump to latest" goes back to the present: live, at the bottom, the news on screen
    qtbot.mouseClick(timeline.jump_button, Qt.MouseButton.LeftButton)
    assert window_model.live
    qtbot.waitUntil(timeline.is_at_bottom)
    latest = row_index(timeline, news["id"])
    assert latest.isValid()
    qtbot.waitUntil(lambda: timeline.viewport().rect().intersects(
        timeline.visualRect(row_index(timeline, news["id"]))))
    assert timeline.jump_button.isHidden()
    # the keyboard way back: jump to the parent again (held now), then Ctrl+End
    window.replies.jump_to(parent["id"])
    qtbot.waitUntil(lambda: not window_model.live)
    assert row_index(timeline, parent["id"]).isValid()
    timeline.setFocus()
    qtbot.keyClick(timeline, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    assert window_model.live
    qtbot.waitUntil(timeline.is_at_bottom)
    assert timeline.currentIndex().data(MessageRoles.IdRole) == news["id"]

    # scrolling up from the present reaches the gap and fills it from above, page by page
    bar = timeline.verticalScrollBar()
    calls.clear()

    def scrolled_through() -> bool:
        bar.setValue(0)
        return not alice.messages.gaps("general")

    qtbot.waitUntil(scrolled_through, timeout=30000)
    assert calls and all("before" in c for c in calls)
    held = [m.id for m in alice.messages.messages("general") if m.id is not None]
    assert held == sorted(set(held))
    texts = {m.text for m in alice.messages.messages("general")}
    assert {f"filler {i}" for i in range(FILLER)} <= texts
    assert "the very first question" in texts


def test_a_room_with_more_unread_than_loaded_opens_at_the_first_unread(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    alice: ChatClient = make_client(server_url, "alice")
    for i in range(40):
        send_as(run, bob, f"read {i}")
    last_read = send_as(run, bob, "the last one alice read")
    run(alice.disconnect())
    # alice read up to there on another device; then 300 more came
    other = make_peer(server_url, "alice")
    assert run(other.call("message:receipt", {"room": "general", "id": last_read["id"],
                                              "state": "read"}))["ok"]
    first_new = send_as(run, bob, "unread 0")
    for i in range(1, 300):
        send_as(run, bob, f"unread {i}")
    alice = make_client(server_url, "alice")  # a new device: it holds nothing yet
    room = alice.rooms.get("general")
    assert room is not None and room.unread == 300
    assert alice.messages.get("general", first_new["id"]) is None  # beyond the first page
    window = make_window(alice)
    window.show_room("general")
    timeline = window.timeline
    # the history around the read position comes, and the room opens at the divider
    qtbot.waitUntil(lambda: timeline.unread_marker_id == first_new["id"], timeout=20000)
    divider = row_index(timeline, first_new["id"])
    assert divider.isValid()
    assert 0 <= timeline.visualRect(divider).top() < timeline.viewport().height() // 2
    assert row_index(timeline, last_read["id"]).isValid()  # read context above it
    window_model = timeline.window_model
    assert window_model is not None and not window_model.live
    assert timeline.jump_button.text() == "300 new messages ↓"
    assert len(alice.messages.gaps("general")) == 1


def test_a_jump_made_while_the_first_unread_loads_is_not_undone(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    make_client(server_url, "alice")  # a member from here on
    last_read = send_as(run, bob, "the last one alice read")
    other = make_peer(server_url, "alice")
    assert run(other.call("message:receipt", {"room": "general", "id": last_read["id"],
                                              "state": "read"}))["ok"]
    first_new = send_as(run, bob, "unread 0")
    for i in range(1, 120):
        send_as(run, bob, f"unread {i}")
    alice = make_client(server_url, "alice")  # a new device: the newest page only
    target = next(m for m in alice.messages.messages("general") if m.text == "unread 100")
    assert target.id is not None
    window = make_window(alice)
    window.show_room("general")  # the history at the first unread starts loading
    timeline = window.timeline
    window.replies.jump_to(target.id)  # the user goes elsewhere before it comes
    # it comes: the divider is drawn above the first unread, the view stays put
    qtbot.waitUntil(lambda: timeline.unread_marker_id == first_new["id"], timeout=20000)
    timeline.source_model().flush()
    qtbot.wait(50)
    assert timeline.currentIndex().data(MessageRoles.IdRole) == target.id
    index = row_index(timeline, target.id)
    assert timeline.viewport().rect().intersects(timeline.visualRect(index))
