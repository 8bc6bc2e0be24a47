"""Reactions, mentions and Markdown in the real window against a real protocol-v2 server.

Two people react to one message and both see the chip's count change; a click on a chip
toggles one's own reaction; a refused reaction is rolled back and explained; a mention
shows the sidebar's "@n" badge, highlights the message, and notifies even in a muted
room; Markdown is drawn with formats while HTML stays literal; the picker searches.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QTextCharFormat

from desktop.state.types import Message
from desktop.ui import reactions as reactions_ui
from desktop.ui.reactions import EmojiPicker
from tests.desktop.ui_helpers import find, make_window  # noqa: F401


def _counts(msg: Message | None) -> dict[str, tuple[str, ...]]:
    return dict(msg.reactions) if msg is not None else {}


def _chip_point(window: Any, msg: Message, emoji: str) -> QPoint:
    """The centre of ``msg``'s ``emoji`` chip in the timeline's viewport."""
    view = window.timeline
    model = view.model()
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        if view.delegate.message(index) is msg:
            view.scrollTo(index)
            lay = view.delegate.layout_for(view.option_for(index), index)
            for chip in lay.chips:
                if chip.emoji == emoji:
                    return view.visualRect(index).topLeft() + chip.rect.center()
    raise AssertionError(f"no {emoji} chip on screen")


def test_two_people_react_and_both_see_the_chip_count_change(
    server_url: str, make_client: Any, make_window: Any, run: Any, qtbot: Any,  # noqa: F811
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_client(server_url, "bob")
    alice_window = make_window(alice, "alice")
    bob_window = make_window(bob, "bob")
    alice_window.show_room("general")
    bob_window.show_room("general")
    bob.send_text("general", "ship it?")

    def held(client: Any) -> Message | None:
        return find(client.message_model("general"),
                    lambda m: m.text == "ship it?" and m.id is not None)

    qtbot.waitUntil(lambda: held(alice) is not None and held(bob) is not None, timeout=10_000)
    at_alice, at_bob = held(alice), held(bob)
    assert at_alice is not None and at_bob is not None

    alice.toggle_reaction(at_alice, "👍")
    assert _counts(at_alice) == {"👍": ("alice",)}  # optimistic: at once
    qtbot.waitUntil(lambda: _counts(at_bob) == {"👍": ("alice",)}, timeout=10_000)

    # bob clicks the chip in his window: he joins alice's 👍
    view = bob_window.timeline
    qtbot.waitUntil(lambda: bool(view.isVisible()))
    point = _chip_point(bob_window, at_bob, "👍")
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: _counts(at_alice) == {"👍": ("alice", "bob")}, timeout=10_000)
    assert _counts(at_bob) == {"👍": ("alice", "bob")}
    tip_kind, value = view.delegate.hit_test(
        view.option_for(view.indexAt(point)), view.indexAt(point), point)
    assert tip_kind == "reaction"
    from desktop.ui.reaction_chips import chip_tooltip
    assert chip_tooltip(value[1]) == "alice and bob reacted with 👍"

    # alice clicks it again: hers goes, bob's stays
    point = _chip_point(alice_window, at_alice, "👍")
    qtbot.mouseClick(alice_window.timeline.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: _counts(at_bob) == {"👍": ("bob",)}, timeout=10_000)
    assert _counts(at_alice) == {"👍": ("bob",)}


def test_a_refused_reaction_is_rolled_back_and_explained(
    server_url: str, make_client: Any, make_peer: Any,
    make_window: Any, run: Any, qtbot: Any,  # noqa: F811
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    window.show_room("general")
    sent = run(bob.call("message:send", {"room": "general", "client_id": "c1", "text": "vote"}))
    mid = sent["message"]["id"]
    emoji = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊",
             "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "😚", "🙂", "🤗"]
    for e in emoji:  # the server's limit: 20 distinct emoji on one message
        assert run(bob.call("reaction:set", {"room": "general", "id": mid, "emoji": e,
                                             "on": True}))["ok"]
    qtbot.waitUntil(lambda: len(_counts(alice.messages.get("general", mid))) == 20,
                    timeout=10_000)
    msg = alice.messages.get("general", mid)
    assert msg is not None
    before = msg.reactions
    with qtbot.waitSignal(alice.errorOccurred, timeout=10_000) as blocker:
        alice.toggle_reaction(msg, "🎉")
        assert len(msg.reactions) == 21  # shown at once...
    assert msg.reactions == before  # ... and put back when refused
    assert blocker.args[0] == ("Could not add the reaction 🎉: a message can carry at most "
                               "20 different reactions.")
    qtbot.waitUntil(lambda: window.toast.isVisible())
    assert "20 different reactions" in window.toast.text()


def test_a_mention_badges_the_room_highlights_and_notifies_even_when_muted(
    server_url: str, make_client: Any, make_peer: Any,
    make_window: Any, run: Any, qtbot: Any,  # noqa: F811
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    run(alice.create_room("side"))
    window.show_room("side")
    window.settings.set_room_muted("general", True)

    def say(text: str) -> None:
        run(bob.call("message:send", {"room": "general", "client_id": text, "text": text}))

    say("chatter")
    say("hey @alice look")
    say("@room standup")
    say("@carol is not a member")
    qtbot.waitUntil(lambda: alice.rooms.get("general").unread == 4, timeout=10_000)
    assert alice.rooms.get("general").mentions == 2
    # muted: only the two mentions notified
    bodies = [body for _title, body in window.notifier.history]
    assert bodies == ["hey @alice look", "@room standup"]
    # a fresh rooms:list (a reconnect) brings the server's count, the same
    rooms = run(alice._call("rooms:list", {}))["rooms"]
    assert [r["mentions"] for r in rooms if r["id"] == "general"] == [2]
    # reading the room clears it
    window.show_room("general")
    qtbot.waitUntil(lambda: alice.rooms.get("general").mentions == 0, timeout=10_000)
    msg = find(alice.message_model("general"), lambda m: m.text == "hey @alice look")
    assert msg is not None and msg.mentions_user("alice")
    other = find(alice.message_model("general"), lambda m: m.text.startswith("@carol"))
    assert other is not None and not other.mentions_user("alice")


def test_markdown_is_drawn_with_formats_and_html_stays_literal(
    server_url: str, make_client: Any, make_peer: Any,
    make_window: Any, run: Any, qtbot: Any,  # noqa: F811
) -> None:
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    window.show_room("general")
    text = "**bold** _it_ `code` <b>not html</b> @alice\n> quoted\n```\nx = 1\n```"
    run(bob.call("message:send", {"room": "general", "client_id": "md", "text": text}))
    qtbot.waitUntil(lambda: find(alice.message_model("general"),
                                 lambda m: m.text == text) is not None, timeout=10_000)
    msg = find(alice.message_model("general"), lambda m: m.text == text)
    assert msg is not None and msg.mentions == ("alice",)
    view = window.timeline
    model = view.model()
    index = next(model.index(r, 0) for r in range(model.rowCount())
                 if view.delegate.message(model.index(r, 0)) is msg)
    lay = view.delegate.layout_for(view.option_for(index), index)
    assert lay.text_layout is not None
    shown = lay.text_layout.text().replace("\u2028", "\n")
    assert shown == "bold it code <b>not html</b> @alice\nquoted\nx = 1"
    ranges = lay.text_layout.formats()
    formats = {(f.start, f.length): QTextCharFormat(f.format) for f in ranges}
    assert formats[(0, 4)].fontWeight() == QFont.Weight.Bold
    assert formats[(5, 2)].fontItalic()
    assert formats[(8, 4)].fontFixedPitch()
    html = (shown.index("<b>"), shown.index("</b>") + 4)
    assert not any(html[0] <= start < html[1] for start, _n in formats)  # no format there
    assert sorted(kind for kind, _rect in lay.boxes) == ["code", "mention", "pre", "quote"]
    # select all and copy: the shown text, markers out, HTML as typed
    view.selection.select_all(msg)
    assert view.selection.text() == shown
    grab = view.viewport().grab()
    assert not grab.isNull()


def test_emoji_picker_searches_by_name_and_remembers_recent(qtbot: Any) -> None:
    reactions_ui.RECENT.clear()
    saved: list[list[str]] = []
    reactions_ui.SAVE_RECENT = saved.append
    picker = EmojiPicker()
    qtbot.addWidget(picker)
    picker.show()
    assert len(picker.emoji()) > 1000
    qtbot.keyClicks(picker.search, "party")
    assert "🎉" in picker.emoji() and "😂" not in picker.emoji()
    picker.search.clear()
    qtbot.keyClicks(picker.search, "tears joy")
    assert picker.emoji()[0] == "😂"
    with qtbot.waitSignal(picker.picked) as blocker:
        qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    assert blocker.args == ["😂"]
    assert reactions_ui.RECENT == ["😂"] and saved == [["😂"]]
    again = EmojiPicker()
    qtbot.addWidget(again)
    assert again.emoji()[0] == "😂"  # recent first
    qtbot.keyClicks(again.search, "zzzzqq")
    assert again.emoji() == [] and not again.empty.isHidden()
    reactions_ui.RECENT.clear()
    reactions_ui.SAVE_RECENT = None


def test_recent_emoji_are_kept_in_the_settings_file(tmp_path: Any) -> None:
    from desktop.settings import AppSettings

    settings = AppSettings(tmp_path)
    settings.recent_emoji = ["😂", "🎉", "👍🏽"]
    settings.sync()
    assert AppSettings(tmp_path).recent_emoji == ["😂", "🎉", "👍🏽"]


def test_at_in_the_composer_completes_members_and_room_with_the_keyboard(
    server_url: str, make_client: Any, make_peer: Any,
    make_window: Any, run: Any, qtbot: Any,  # noqa: F811
) -> None:
    alice = make_client(server_url, "alice")
    make_peer(server_url, "bob")
    make_peer(server_url, "bea")
    window = make_window(alice)
    window.show_room("general")
    alice.member_model("general")
    qtbot.waitUntil(lambda: {"bob", "bea"} <= {m.name for m in alice.members.members("general")},
                    timeout=10_000)
    edit = window.composer
    edit.setFocus()
    popup = window.mention_completer.popup
    qtbot.keyClicks(edit, "hi @b")
    qtbot.waitUntil(popup.isVisible)
    assert [popup.item(i).text() for i in range(popup.count())] == ["@bea", "@bob"]
    qtbot.keyClick(edit, Qt.Key.Key_Down)
    qtbot.keyClick(edit, Qt.Key.Key_Tab)
    assert edit.toPlainText() == "hi @bob " and not popup.isVisible()
    qtbot.keyClicks(edit, "and @ro")
    qtbot.waitUntil(popup.isVisible)
    assert popup.item(0).text() == "@room"
    with qtbot.assertNotEmitted(window.composer_panel.sendRequested):
        qtbot.keyClick(edit, Qt.Key.Key_Return)  # Enter picks, it does not send
    assert edit.toPlainText() == "hi @bob and @room "
    qtbot.keyClicks(edit, "@zz")
    assert not popup.isVisible()  # nobody by that name
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert "@alice" not in [popup.item(i).text() for i in range(popup.count())]


def test_hovering_a_message_offers_the_quick_bar_and_a_click_reacts(
    server_url: str, make_client: Any, make_peer: Any,
    make_window: Any, run: Any, qtbot: Any,  # noqa: F811
) -> None:
    from desktop.state.emoji_data import QUICK
    from desktop.ui.reaction_chips import quick_bar

    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    window.show_room("general")
    sent = run(bob.call("message:send", {"room": "general", "client_id": "q", "text": "lunch?"}))
    mid = sent["message"]["id"]
    qtbot.waitUntil(lambda: alice.messages.get("general", mid) is not None, timeout=10_000)
    msg = alice.messages.get("general", mid)
    view = window.timeline
    model = view.model()

    def row_of_msg() -> Any:
        return next((model.index(r, 0) for r in range(model.rowCount())
                     if view.delegate.message(model.index(r, 0)) is msg), None)

    qtbot.waitUntil(lambda: row_of_msg() is not None, timeout=10_000)
    index = row_of_msg()
    view.scrollTo(index)
    lay = view.delegate.layout_for(view.option_for(index), index)
    assert lay.bubble_rect is not None
    top_left = view.visualRect(index).topLeft()
    qtbot.mouseMove(view.viewport(), top_left + lay.bubble_rect.center())
    qtbot.waitUntil(lambda: view.delegate.hover_msg is msg)
    cells = dict((e, r) for r, e in quick_bar(lay.bubble_rect, False, QUICK))
    qtbot.mouseMove(view.viewport(), top_left + cells["🎉"].center())
    qtbot.waitUntil(lambda: view.delegate.hover_quick == "🎉")
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=top_left + cells["🎉"].center())
    assert _counts(msg) == {"🎉": ("alice",)}
    qtbot.waitUntil(lambda: any(e == "message:updated" for e, _d in bob.events), timeout=10_000)
    update = [d for e, d in bob.events if e == "message:updated"][-1]
    assert update["message"]["reactions"] == [{"emoji": "🎉", "users": ["alice"]}]

    # from the keyboard: the focused message's menu (the Menu key) offers React…
    view.setCurrentIndex(index)
    menu = view.open_context_menu_for(index)
    assert menu is not None
    react = next(a for a in menu.actions() if a.text() == "React…")
    submenu = react.menu()
    labels = [a.text() for a in submenu.actions() if a.text()]
    assert labels[0] == "👍  Thumbs up sign" and labels[-1] == "More emoji…"
    submenu.actions()[0].trigger()
    menu.close()
    assert _counts(msg) == {"🎉": ("alice",), "👍": ("alice",)}
    qtbot.waitUntil(lambda: [d for e, d in bob.events if e == "message:updated"][-1]
                    ["message"]["reactions"][-1] == {"emoji": "👍", "users": ["alice"]},
                    timeout=10_000)


def test_links_inside_markdown_still_open_and_keep_their_underscores(qtbot: Any) -> None:
    from desktop.ui.message_text import layout_text, link_at

    block = layout_text("**see https://x.org/a_b_c** and _more_", QFont(), 600)
    shown = block.layout.text()
    assert shown == "see https://x.org/a_b_c and more"
    assert block.links == [(4, 19, "https://x.org/a_b_c")]
    line = block.layout.lineAt(0)
    x, _ = line.cursorToX(10)
    assert link_at(block.layout, block.links, x, line.y() + 2) == "https://x.org/a_b_c"
