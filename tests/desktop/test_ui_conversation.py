"""Reply, edit and delete in the real window against a real v2 server: the context menu,
keys, the composer's bar, the quote and the jump to a parent not loaded yet, the
confirmation, the tombstone, and the "New messages" divider from ``read_up_to``."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from desktop.net.client import ChatClient
from desktop.ui.conversation import row_index
from desktop.ui.dialogs import ConfirmDialog
from tests.desktop.ui_helpers import make_window, send_as  # noqa: F401


def _menu_texts(window: Any, message_id: int) -> list[str]:
    timeline = window.timeline
    index = row_index(timeline, message_id)
    assert index.isValid()
    timeline.scrollTo(index)
    menu = timeline.context_menu_at(timeline.visualRect(index).center(), index)
    assert menu is not None
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    menu.deleteLater()
    return texts


def _trigger(window: Any, message_id: int, label: str) -> None:
    timeline = window.timeline
    index = row_index(timeline, message_id)
    menu = timeline.context_menu_at(timeline.visualRect(index).center(), index)
    assert menu is not None
    [action] = [a for a in menu.actions() if a.text() == label]
    action.trigger()
    menu.deleteLater()


def test_reply_from_the_menu_shows_a_quote_and_jumps_to_a_parent_not_loaded(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    parent = send_as(run, bob, "the very first question")
    for i in range(130):  # more than the first page: the parent is not loaded at first
        send_as(run, bob, f"filler {i}")
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.show_room("general")
    qtbot.waitUntil(lambda: alice.messages.count("general") > 0)
    assert alice.messages.get("general", parent["id"]) is None
    last = next(m for m in alice.messages.messages("general") if m.text == "filler 129")
    assert last.id is not None
    # reply to the newest message through the context menu, with the composer's bar
    assert "Reply" in _menu_texts(window, last.id)
    _trigger(window, last.id, "Reply")
    bar = window.replies.bar
    assert bar.isVisible() and "Replying to bob" in bar.title.text()
    assert "filler 129" in bar.detail.text()
    qtbot.keyClicks(window.composer, "answer")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert not bar.isVisible()
    qtbot.waitUntil(lambda: not alice.outbox.entries())
    mine = alice.messages.messages("general")[-1]
    assert mine.text == "answer" and mine.reply_to is not None
    assert mine.reply_to.id == last.id and mine.reply_to.text == "filler 129"
    # bob's reply quotes a parent alice has not loaded: a click on the quote loads it
    reply = send_as(run, bob, "answering the first", reply_to=parent["id"])
    qtbot.waitUntil(lambda: alice.messages.get("general", reply["id"]) is not None)
    timeline = window.timeline
    timeline.scroll_to_latest()
    qtbot.waitUntil(lambda: row_index(timeline, reply["id"]).isValid())
    index = row_index(timeline, reply["id"])
    lay = timeline.delegate.layout_for(timeline.option_for(index), index)
    assert lay.quote_rect is not None  # the delegate paints the quote
    click = lay.quote_rect.center() + timeline.visualRect(index).topLeft()
    assert timeline.hit(click)[1] == "quote"
    qtbot.mouseClick(timeline.viewport(), Qt.MouseButton.LeftButton, pos=click)
    qtbot.waitUntil(lambda: alice.messages.get("general", parent["id"]) is not None)
    qtbot.waitUntil(lambda: timeline.delegate.flash_id == parent["id"])
    target = row_index(timeline, parent["id"])
    assert target.isValid()
    assert timeline.viewport().rect().intersects(timeline.visualRect(target))
    # the parent edited, then deleted, by bob: the quote follows
    run(bob.call("message:edit", {"room": "general", "id": parent["id"], "text": "reworded"}))
    held = alice.messages.get("general", reply["id"])
    assert held is not None and held.reply_to is not None
    qtbot.waitUntil(lambda: held.reply_to.text == "reworded")
    run(bob.call("message:delete", {"room": "general", "id": parent["id"]}))
    qtbot.waitUntil(lambda: held.reply_to.deleted)


def test_up_in_an_empty_composer_edits_the_last_message_and_esc_cancels(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    alice: ChatClient = make_client(server_url, "alice")
    window = make_window(alice)
    window.show_room("general")
    composer = window.composer
    for text in ("first", "secnod"):
        qtbot.keyClicks(composer, text)
        qtbot.keyClick(composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not alice.outbox.entries())
    send_as(run, bob, "bob talks in between")
    mine = alice.messages.messages("general")
    target = next(m for m in reversed(mine) if m.sender == "alice")
    assert target.text == "secnod"
    # Esc leaves edit mode and gives back what was being written
    qtbot.keyClicks(composer, "half a thought")
    composer.clear()
    composer.setFocus()
    qtbot.keyClick(composer, Qt.Key.Key_Up)
    bar = window.replies.bar
    assert bar.isVisible() and bar.title.text() == "Editing message"
    assert composer.toPlainText() == "secnod"
    qtbot.keyClick(composer, Qt.Key.Key_Escape)
    assert not bar.isVisible() and composer.toPlainText() == ""
    qtbot.keyClick(composer, Qt.Key.Key_Up)
    composer.selectAll()
    qtbot.keyClicks(composer, "second")
    qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert not bar.isVisible()
    assert target.shown_text == "second"  # shown at once
    qtbot.waitUntil(lambda: target.edited_ts is not None and target.pending_edit is None)
    assert target.text == "second"
    qtbot.waitUntil(lambda: any(e == "message:updated" and d["message"]["text"] == "second"
                                for e, d in bob.events))
    index = row_index(window.timeline, target.id)
    assert window.timeline.delegate._meta_text(target, True).startswith("edited")
    assert "Edited" in str(index.data(Qt.ItemDataRole.ToolTipRole))


def _confirm(qtbot: Any) -> None:
    def dialog() -> ConfirmDialog | None:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, ConfirmDialog) and w.isVisible():
                return w
        return None

    qtbot.waitUntil(lambda: dialog() is not None)
    found = dialog()
    assert found is not None
    found.action_button.click()


def test_delete_by_the_sender_and_by_the_rooms_owner_but_not_by_others(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    olga: ChatClient = make_client(server_url, "olga")
    room = run(olga.create_room("team"))
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": room.id}))
    carol: ChatClient = make_client(server_url, "carol")
    run(carol.join_room(room.id))
    image = {"data": _png(), "name": "pic.png"}
    bobs = run(bob.call("message:send", {"room": room.id, "client_id": str(uuid.uuid4()),
                                         "text": "bob's picture", "image": image}))["message"]
    owner_window = make_window(olga, "olga")
    owner_window.show_room(room.id)
    carol_window = make_window(carol, "carol")
    carol_window.show_room(room.id)
    qtbot.waitUntil(lambda: row_index(carol_window.timeline, bobs["id"]).isValid())
    qtbot.waitUntil(lambda: row_index(owner_window.timeline, bobs["id"]).isValid())
    # carol is neither the sender nor the owner: no Delete offered, the key does nothing
    assert not any("Delete" in t for t in _menu_texts(carol_window, bobs["id"]))
    carol_window.timeline.setFocus()
    carol_window.timeline.setCurrentIndex(row_index(carol_window.timeline, bobs["id"]))
    qtbot.keyClick(carol_window.timeline, Qt.Key.Key_Delete)
    assert not carol.outbox.entries()
    # a refusal from the server is a sentence in the window
    carol._queue_change("delete", room.id, bobs["id"])
    qtbot.waitUntil(lambda: carol_window.toast.isVisible()
                    and "not allowed" in carol_window.toast.text())
    # carol fetched the picture: once deleted it leaves her client's cache
    run(carol.fetch_media(bobs["image"]["id"]))
    assert bobs["image"]["id"] in carol._media_cache
    # olga owns the room: she may, after confirming
    assert "Delete for everyone…" in _menu_texts(owner_window, bobs["id"])
    with qtbot.waitSignal(carol.mediaDropped) as dropped:
        _trigger(owner_window, bobs["id"], "Delete for everyone…")
        _confirm(qtbot)
    assert dropped.args == [bobs["image"]["id"]]
    assert bobs["image"]["id"] not in carol._media_cache
    assert not [k for k in carol_window.decoder.natural_sizes if k.startswith(
        bobs["image"]["id"])]
    theirs = carol.messages.get(room.id, bobs["id"])
    assert theirs is not None and theirs.deleted and theirs.image is None
    index = row_index(carol_window.timeline, bobs["id"])
    assert index.data(Qt.ItemDataRole.DisplayRole) == "Message deleted"
    lay = carol_window.timeline.delegate.layout_for(
        carol_window.timeline.option_for(index), index)
    assert lay.image_rect is None and lay.muted_text
    # carol deletes her own message with the Delete key on it
    cid = carol.send_text(room.id, "carol's own")
    qtbot.waitUntil(lambda: not carol.outbox.entries())
    own = carol.messages.find_client_id(cid)
    assert own is not None and own.id is not None
    qtbot.waitUntil(lambda: row_index(carol_window.timeline, own.id).isValid())
    carol_window.timeline.setFocus()
    carol_window.timeline.setCurrentIndex(row_index(carol_window.timeline, own.id))
    qtbot.keyClick(carol_window.timeline, Qt.Key.Key_Delete)
    _confirm(qtbot)
    qtbot.waitUntil(lambda: own.deleted)
    last = carol.rooms.get(room.id).last_message
    assert last is not None and last.deleted  # the sidebar says "Message deleted"
    held = olga.messages.get(room.id, own.id)
    qtbot.waitUntil(lambda: held is not None and held.deleted)


def test_the_unread_divider_opens_above_the_first_message_after_read_up_to(
    server_url: str, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any,
) -> None:
    bob = make_peer(server_url, "bob")
    run(bob.call("room:join", {"room": "general"}))
    alice: ChatClient = make_client(server_url, "alice")
    read = send_as(run, bob, "read already")
    run(alice.disconnect())
    # alice read up to "read already" on another device
    other = make_peer(server_url, "alice")
    assert run(other.call("message:receipt", {"room": "general", "id": read["id"],
                                              "state": "read"}))["ok"]
    first_new = send_as(run, bob, "unread one")
    send_as(run, bob, "unread two")
    assert run(alice.connect_to(server_url, {"username": "alice",
                                             "password": "correct horse battery"}))
    room = alice.rooms.get("general")
    assert room is not None and room.read_up_to == read["id"] and room.unread == 2
    window = make_window(alice)
    window.show_room("general")
    qtbot.waitUntil(lambda: window.timeline.unread_marker_id == first_new["id"])


def _png() -> bytes:
    from tests.desktop.ui_helpers import png_bytes
    return png_bytes()


_ = QPoint


def test_a_quote_shows_its_parent_as_the_timeline_does_without_markdown_markers() -> None:
    from desktop.state.types import ReplyPreview
    from desktop.ui.message_quote import quote_line

    quote = ReplyPreview(id=1, sender="bob", kind="text",
                         text="the **release notes**\nare _out_, <b>see</b> `x`", deleted=False)
    assert quote_line(quote) == "the release notes are out, <b>see</b> x"
    cut = ReplyPreview(id=1, sender="bob", kind="text", text="an **unclosed bold", deleted=False)
    assert quote_line(cut) == "an **unclosed bold"  # a marker cut off by the preview stays
