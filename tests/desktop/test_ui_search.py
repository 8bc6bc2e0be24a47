"""Search in the real window against a real v2 server (protocol v2 section 16): typing,
the debounce and stale answers, highlighted words, paging, per-room and all-room scope,
opening a result far back in history (loaded around it, flashed), and the sentences
shown for no results and for errors; plus the highlight rules on their own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QPalette

from desktop.models.message_list import MessageRoles
from desktop.models.search_list import SearchRoles
from desktop.net.client import ChatClient, RequestError
from desktop.state.search import SearchResult, match_spans, result_row, snippet
from desktop.state.types import Message
from desktop.ui import theme
from desktop.ui.conversation import row_index
from desktop.ui.search_delegate import mark_colour
from desktop.ui.search_panel import SearchPanel
from tests.desktop.ui_helpers import make_window, send_as  # noqa: F401


def _results(panel: SearchPanel) -> list[SearchResult]:
    model = panel.model
    return [model.index(r, 0).data(SearchRoles.ItemRole) for r in range(model.rowCount())]


def _settled(panel: SearchPanel) -> bool:
    return not panel._tasks and panel.results.state not in ("searching",) \
        and not panel.debounce.isActive()


# ---------------------------------------------------------------- highlight rules


def test_highlights_follow_the_servers_matching_rules() -> None:
    # a word matches words starting with it, ignoring case and diacritics
    text = "Résumé sent; RESUMES later, presume nothing"
    spans = match_spans(text, "resume")
    assert [text[s:e] for s, e in spans] == ["Résumé", "RESUME"]
    # a quoted phrase: those words in sequence, whole
    text = "the quick brown fox, quick browner"
    assert [text[s:e] for s, e in match_spans(text, '"quick brown"')] == ["quick brown"]
    # e-mail is the phrase "e mail", its last word a prefix
    text = "send an e-mails or E mail"
    assert [text[s:e] for s, e in match_spans(text, "e-mail")] == ["e-mail", "E mail"]
    # text is plain text: markup is just characters, highlighted like any others
    text = "<b>needle</b>"
    assert [text[s:e] for s, e in match_spans(text, "needle")] == ["needle"]
    # a long text is cut so the match shows, the span moving with it
    long = "word " * 60 + "needle at the end"
    cut, moved = snippet(long, match_spans(long, "needle"))
    assert cut.startswith("…") and [cut[s:e] for s, e in moved] == ["needle"]


def test_a_result_reads_as_the_timeline_shows_it_markdown_markers_taken_out() -> None:
    msg = Message(id=1, room="general", sender="bob", ts=1, kind="text",
                  text="read the **release notes** and _the_ `diff`, <b>not</b> html")
    row = result_row(msg, "release not")
    assert row.text == "read the release notes and the diff, <b>not</b> html"
    assert [row.text[s:e] for s, e in row.spans] == ["release", "not", "not"]
    # a marker-less text is itself; a long one is still cut around the match
    long = Message(id=2, room="general", sender="bob", ts=1, kind="text",
                   text="word " * 60 + "**needle** at the end")
    cut = result_row(long, "needle")
    assert cut.text.startswith("…") and "**" not in cut.text
    assert [cut.text[s:e] for s, e in cut.spans] == ["needle"]


def test_the_highlight_is_readable_in_light_and_dark_themes() -> None:
    for palette in (theme.light_palette(), theme.dark_palette()):
        text = theme.text(palette)
        mark = mark_colour(palette)
        assert theme.contrast_ratio(text, mark) >= 4.5
        assert mark != palette.color(QPalette.ColorRole.Base)


# ---------------------------------------------------------------- in the window


def test_typing_searches_the_room_and_enter_opens_a_result_far_back_in_history(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    run(bob.call("room:create", {"name": "random"}))
    for i in range(120):  # older history, paged in above the result after the jump
        send_as(run, bob, f"early {i}")
    needle = send_as(run, bob, "the Needle is in the <b>haystack</b>")
    for i in range(320):  # several history pages: the result is not loaded at first
        send_as(run, bob, f"filler {i}")
    send_as(run, bob, "another needle, elsewhere", room="random")
    alice: ChatClient = make_client(server_url, "alice")
    run(alice.join_room("random"))
    window = make_window(alice)
    window.show_room("general")
    qtbot.waitUntil(lambda: alice.messages.count("general") > 0)
    assert alice.messages.get("general", needle["id"]) is None

    assert window.search_action.shortcut() == QKeySequence("Ctrl+F")
    window.search_action.trigger()
    panel: SearchPanel = window.search.panel
    assert panel.isVisible()
    qtbot.waitUntil(panel.field.hasFocus)
    assert panel.scope_room == "general" and "#general" in panel.field.placeholderText()
    assert "Type to search the messages in #general" in panel.status_text
    qtbot.keyClicks(panel.field, "NEED")
    qtbot.waitUntil(lambda: panel.results.state == "results" and _settled(panel))
    [hit] = _results(panel)  # only this room's match
    assert hit.message.id == needle["id"]
    assert hit.text == "the Needle is in the <b>haystack</b>"  # shown as plain text
    assert [hit.text[s:e] for s, e in hit.spans] == ["Need"]
    label = panel.model.index(0, 0).data(Qt.ItemDataRole.AccessibleTextRole)
    assert label.startswith("bob in #general:")
    assert not panel.list.grab().isNull()  # the delegate paints it

    # wide: a column of its own, the conversation narrowed beside it (nothing under it)
    assert not window.narrow
    conv = window.conversation
    right = conv.mapTo(window.central, conv.rect().topLeft()).x() + conv.width() \
        - conv.layout().contentsMargins().right()
    assert right <= panel.geometry().left()
    send = window.send_button
    qtbot.waitUntil(lambda: send.mapTo(window.central, send.rect().topRight()).x()
                    < panel.geometry().left())
    qtbot.keyClick(panel.field, Qt.Key.Key_Down)
    qtbot.keyClick(panel.field, Qt.Key.Key_Return)
    timeline = window.timeline
    qtbot.waitUntil(lambda: timeline.delegate.flash_id == needle["id"], timeout=20000)
    assert window.current_room == "general"
    target = row_index(timeline, needle["id"])
    assert target.isValid()
    assert timeline.viewport().rect().intersects(timeline.visualRect(target))
    # loaded around it in two requests, however far back: the needle with history on
    # both sides, and a gap up to the newest page the room opened with
    held = [m.id for m in alice.messages.messages("general") if m.id is not None]
    assert needle["id"] in held and held == sorted(held)
    assert alice.messages.count("general") <= 50 + 101
    [(gap_lo, gap_hi)] = alice.messages.gaps("general")
    assert needle["id"] < gap_lo < gap_hi
    window_model = timeline.window_model
    assert window_model is not None and not window_model.live
    assert not timeline.is_at_bottom() and not timeline.jump_button.isHidden()
    # the keyboard focus is on the message opened, and stays on it as rows arrive above
    assert timeline.currentIndex().data(MessageRoles.IdRole) == needle["id"]
    def all_loaded() -> bool:  # what reaching the top again and again does
        window.on_timeline_load_older_requested()
        return "general" in window._no_more_history

    qtbot.waitUntil(all_loaded, timeout=10000)
    texts = [m.text for m in alice.messages.messages("general")]
    assert sum(1 for t in texts if t.startswith("early ")) == 120
    timeline.source_model().flush()
    qtbot.wait(50)  # the view's delayed layout
    assert timeline.currentIndex().data(MessageRoles.IdRole) == needle["id"]

    qtbot.keyClick(panel.field, Qt.Key.Key_Escape)
    assert not panel.isVisible()
    assert window.conversation.layout().contentsMargins().right() == 0  # full width again
    # Esc goes back to the message opened, not the composer: R replies to it
    qtbot.waitUntil(timeline.hasFocus)
    qtbot.keyClick(timeline, Qt.Key.Key_R)
    assert window.replies.mode == "reply" and window.replies.target is not None
    assert window.replies.target.id == needle["id"]

    # scrolling down through the gap fills it page by page until the present is reached
    bar = timeline.verticalScrollBar()

    def scrolled_to_present() -> bool:
        bar.setValue(bar.maximum())
        return window_model.live and not alice.messages.gaps("general")

    qtbot.waitUntil(scrolled_to_present, timeout=20000)
    held = [m.id for m in alice.messages.messages("general") if m.id is not None]
    assert held == sorted(set(held)) and len(held) >= 441
    qtbot.waitUntil(timeline.is_at_bottom)


def test_all_rooms_search_lists_each_room_and_opens_the_chosen_one(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    run(bob.call("room:create", {"name": "random"}))
    in_general = send_as(run, bob, "release notes draft")
    in_random = send_as(run, bob, "the release is friday", room="random")
    alice: ChatClient = make_client(server_url, "alice")
    run(alice.join_room("random"))
    window = make_window(alice)
    window.show_room("general")

    assert window.search_all_action.shortcut() == QKeySequence("Ctrl+Shift+F")
    window.search_all_action.trigger()
    panel: SearchPanel = window.search.panel
    assert panel.scope_room is None and panel.all_rooms.isChecked()
    qtbot.keyClicks(panel.field, "releas")
    qtbot.waitUntil(lambda: panel.results.state == "results" and _settled(panel))
    rows = _results(panel)
    assert [r.message.id for r in rows] == [in_random["id"], in_general["id"]]  # newest first
    assert [r.message.room for r in rows] == ["random", "general"]
    for row in rows:
        assert [row.text[s:e] for s, e in row.spans] == ["releas"]

    # the scope switch narrows the same query to the room on screen
    panel.all_rooms.setChecked(False)
    qtbot.waitUntil(lambda: panel.results.state == "results" and _settled(panel))
    assert [r.message.id for r in _results(panel)] == [in_general["id"]]
    panel.all_rooms.setChecked(True)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2 and _settled(panel))

    # keyboard only: the first result is current; Enter opens it in its own room
    assert panel.list.currentIndex().row() == 0
    qtbot.keyClick(panel.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_room == "random")
    qtbot.waitUntil(lambda: window.timeline.delegate.flash_id == in_random["id"])


def test_results_page_as_the_list_scrolls_without_gaps_or_duplicates(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any, qtmodeltester: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    sent = [send_as(run, bob, f"match number {i}")["id"] for i in range(47)]
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.show_room("general")
    panel = window.open_search(False)
    qtbot.keyClicks(panel.field, "match")
    qtbot.waitUntil(lambda: panel.results.state == "results" and _settled(panel))
    assert panel.model.rowCount() == 20 and panel.results.has_more
    bar = panel.list.verticalScrollBar()
    while panel.results.has_more:
        count = panel.model.rowCount()
        bar.setValue(bar.maximum())
        qtbot.waitUntil(lambda c=count: panel.model.rowCount() > c and _settled(panel))
    ids = [r.message.id for r in _results(panel)]
    assert ids == sorted(sent, reverse=True)  # all 47, newest first, none twice
    qtmodeltester.check(panel.model)
    # the keyboard walks to the end too
    for _ in range(60):
        qtbot.keyClick(panel.field, Qt.Key.Key_Down)
    assert panel.list.currentIndex().row() == 46


def test_typing_is_debounced_and_answers_to_older_queries_are_dropped(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    send_as(run, bob, "alpha one")
    beta = send_as(run, bob, "beta two")
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.show_room("general")
    panel = window.open_search(False)
    # while the user types (the quiet period not over), nothing is asked
    panel.debounce.setInterval(60_000)
    qtbot.keyClicks(panel.field, "alph")
    assert panel.debounce.isActive() and panel.requests_sent == 0
    # two queries in flight at once: only the newest one's answer reaches the screen
    panel.restart()  # "alph" goes out
    panel.field.setText("beta")
    panel.restart()  # "beta" goes out before "alph" is answered
    assert panel.requests_sent == 2
    qtbot.waitUntil(lambda: _settled(panel) and panel.dropped == 1)
    assert [r.message.id for r in _results(panel)] == [beta["id"]]
    # Enter while the quiet period runs searches at once
    panel.field.setText("alpha")
    assert panel.debounce.isActive()
    qtbot.keyClick(panel.field, Qt.Key.Key_Return)
    assert not panel.debounce.isActive()
    qtbot.waitUntil(lambda: _settled(panel) and panel.results.state == "results")
    assert [r.message.text for r in _results(panel)] == ["alpha one"]


def test_no_results_and_errors_are_sentences(
    server_url: str, make_client: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.show_room("general")
    panel = window.open_search(False)
    panel.field.setText("zebra")
    panel.restart()
    qtbot.waitUntil(lambda: _settled(panel) and panel.results.state == "empty")
    assert panel.status_text == "No messages in #general match “zebra”."
    assert not panel.list.isVisible()
    panel.field.setText("*** --")
    panel.restart()
    qtbot.waitUntil(lambda: _settled(panel) and panel.results.state == "error")
    assert panel.status_text == "Type a letter or a digit to search for."
    with pytest.raises(RequestError) as gone:  # not_found, as for a private room
        run(alice.search("anything", "no-such-room"))
    assert gone.value.message == (
        "You are not a member of #no-such-room any more, so it cannot be searched.")
    run(alice.disconnect())
    panel.field.setText("zebra")
    panel.restart()
    qtbot.waitUntil(lambda: _settled(panel) and panel.results.state == "error")
    assert panel.status_text.startswith("You are offline.")


def test_too_many_searches_is_a_sentence_not_a_code(
    start_test_server: Any, make_client: Any, run: Any,
) -> None:
    url = start_test_server(rate_limit_messages=30)  # the search budget is on with it
    alice: ChatClient = make_client(url, "alice")

    async def burst() -> list[Any]:  # 31 at once: all inside the 10 s window
        return await asyncio.gather(*(alice.search("anything", "general") for _ in range(31)),
                                    return_exceptions=True)

    answers = run(burst())
    refused = [a for a in answers if isinstance(a, RequestError)]
    assert len(refused) == 1 and len(answers) - len(refused) == 30
    assert refused[0].code == "rate_limited"
    assert refused[0].message == (
        "Too many searches in a short time. Wait a few seconds and try again.")


def test_the_panel_fits_a_narrow_dark_window_and_closes_on_opening_a_result(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any, qapp: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    hit = send_as(run, bob, "a narrow window still finds this")
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.set_theme("dark")
    try:
        window.resize(700, 560)
        qtbot.waitUntil(lambda: window.narrow)
        window.show_room("general")
        panel = window.open_search(False)
        qtbot.keyClicks(panel.field, "narrow")
        qtbot.waitUntil(lambda: panel.results.state == "results" and _settled(panel))
        central = window.central.rect()
        assert central.contains(panel.geometry())
        assert panel.width() >= 300
        assert not panel.list.grab().isNull()
        qtbot.keyClick(panel.field, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: window.timeline.delegate.flash_id == hit["id"])
        assert not panel.isVisible()  # in the narrow layout it would hide the message
        qtbot.waitUntil(window.timeline.hasFocus)
        assert window.timeline.currentIndex().data(MessageRoles.IdRole) == hit["id"]
    finally:
        window.set_theme("system")
