# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""The main window exchanging text and images with a headless python-socketio peer."""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextLayout

from desktop.models.message_list import MessageRoles
from desktop.state.types import DeliveryStatus
from desktop.ui.image_viewer import ImageViewer
from tests.desktop.ui_helpers import find, make_window, png_bytes, row_of  # noqa: F401

SCREENSHOT = Path("/tmp/parley-main.png")


def test_text_both_ways_with_receipts_and_plain_html(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")

    # GUI -> peer: typed into the composer, Enter sends.
    qtbot.keyClicks(window.composer, "hello bob")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert window.composer.toPlainText() == ""
    qtbot.waitUntil(lambda: any(m.get("text") == "hello bob" for m in bob.of("message")))
    sent = next(m for m in bob.of("message") if m.get("text") == "hello bob")
    qtbot.waitUntil(
        lambda: (
            find(model, lambda m: m.id == sent["id"] and m.status == DeliveryStatus.SENT)
            is not None
        )
    )

    run(bob.call("message:receipt", {"room": "general", "id": sent["id"], "state": "delivered"}))
    qtbot.waitUntil(
        lambda: find(model, lambda m: m.id == sent["id"]).status == DeliveryStatus.DELIVERED
    )
    run(bob.call("message:receipt", {"room": "general", "id": sent["id"], "state": "read"}))
    qtbot.waitUntil(lambda: find(model, lambda m: m.id == sent["id"]).status == DeliveryStatus.READ)
    row = row_of(model, lambda m: m.id == sent["id"])
    assert model.index(row, 0).data(MessageRoles.ReceiptTextRole).startswith("Read")

    # Shift+Enter is a newline, not a send.
    qtbot.keyClicks(window.composer, "two")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer, "lines")
    assert window.composer.toPlainText() == "two\nlines"
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(m.get("text") == "two\nlines" for m in bob.of("message")))

    # Peer -> GUI, HTML stays literal text.
    run(
        bob.call(
            "message:send",
            {"room": "general", "client_id": str(uuid.uuid4()), "text": "<b>html</b>"},
        )
    )
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == "<b>html</b>") is not None)
    row = row_of(model, lambda m: m.text == "<b>html</b>")
    index = model.index(row, 0)
    assert index.data(Qt.ItemDataRole.DisplayRole) == "<b>html</b>"
    assert index.data(MessageRoles.IsOwnRole) is False
    layout = window.timeline.delegate.layout_for(window.timeline.option_for(index), index)
    assert isinstance(layout.text_layout, QTextLayout)
    assert layout.text_layout.text() == "<b>html</b>"
    assert layout.text_layout.formats() == []  # no formatting at all: plain text
    assert layout.links == []


def test_links_are_detected_and_only_they_are_formatted(
    server_url, make_client, make_peer, make_window, run, qtbot
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")
    text = "see https://example.com/a?b=1, thanks"
    run(bob.call("message:send", {"room": "general", "client_id": str(uuid.uuid4()), "text": text}))
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == text) is not None)
    index = model.index(row_of(model, lambda m: m.text == text), 0)
    option = window.timeline.option_for(index)
    layout = window.timeline.delegate.layout_for(option, index)
    assert layout.links == [(4, len("https://example.com/a?b=1"), "https://example.com/a?b=1")]
    assert [(f.start, f.length) for f in layout.text_layout.formats()] == [(4, 25)]
    # hit-testing the link's first character finds the URL
    line = layout.text_layout.lineAt(0)
    x = line.cursorToX(6)[0] + layout.text_origin.x()
    y = line.y() + line.height() / 2 + layout.text_origin.y()
    pos = option.rect.topLeft() + __import__("PySide6.QtCore", fromlist=["QPoint"]).QPoint(
        int(x), int(y)
    )
    assert window.timeline.delegate.hit_test(option, index, pos) == (
        "link",
        "https://example.com/a?b=1",
    )


def test_images_both_ways_thumbnail_and_viewer(
    server_url, make_client, make_peer, make_window, run, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")

    # GUI -> peer through the attach path (what the file picker calls).
    path = tmp_path / "blue.png"
    data = png_bytes(300, 200)
    path.write_bytes(data)
    assert window.composer_panel.add_files([path]) == 1
    window.composer_panel.chips[0].caption.setText("a blue box")
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    assert window.composer_panel.chips == []
    qtbot.waitUntil(lambda: any(m.get("kind") == "image" for m in bob.of("message")))
    got = next(m for m in bob.of("message") if m.get("kind") == "image")
    assert got["text"] == "a blue box"
    assert got["image"]["width"] == 300 and got["image"]["height"] == 200
    assert bytes(run(bob.call("media:get", {"id": got["image"]["id"]}))["data"]) == data

    # Peer -> GUI: thumbnail decoded off-thread, painted at its aspect ratio.
    other = png_bytes(200, 400, (220, 80, 40))
    run(
        bob.call(
            "message:send",
            {
                "room": "general",
                "client_id": str(uuid.uuid4()),
                "image": {"data": other, "name": "tall.png"},
            },
        )
    )
    qtbot.waitUntil(
        lambda: find(model, lambda m: m.sender == "bob" and m.kind == "image") is not None
    )
    msg = find(model, lambda m: m.sender == "bob" and m.kind == "image")
    index = model.index(row_of(model, lambda m: m is msg), 0)
    window.timeline.scrollToBottom()
    window.timeline.viewport().repaint()
    key = f"{msg.image.id}@thumb"
    qtbot.waitUntil(lambda: window.decoder.pixmap(key) is not None)
    layout = window.timeline.delegate.layout_for(window.timeline.option_for(index), index)
    ratio = layout.image_rect.height() / layout.image_rect.width()
    assert abs(ratio - 2.0) < 0.05

    # Clicking the thumbnail opens the viewer with the full image.
    rect = window.timeline.visualRect(index)
    center = rect.topLeft() + layout.image_rect.center()
    qtbot.mouseClick(window.timeline.viewport(), Qt.MouseButton.LeftButton, pos=center)
    qtbot.waitUntil(
        lambda: any(isinstance(v, ImageViewer) and v.isVisible() for v in window.viewers)
    )
    viewer = window.viewers[-1]
    qtbot.waitUntil(lambda: viewer.pixmap is not None)
    assert (viewer.pixmap.width(), viewer.pixmap.height()) == (200, 400)
    saved = tmp_path / "saved.png"
    assert viewer.save_to(str(saved))
    assert saved.read_bytes() == other
    viewer.close()


def test_screenshot_mid_conversation(server_url, make_client, make_peer, make_window, run, qtbot):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    window = make_window(alice)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")
    lines = [
        "Morning! Is the release branch frozen?",
        "Yes, since last night. Only fixes for the crash on start-up go in.",
        "Details: https://example.com/issues/42",
    ]
    for text in lines:
        run(
            bob.call(
                "message:send", {"room": "general", "client_id": str(uuid.uuid4()), "text": text}
            )
        )
    run(
        bob.call(
            "message:send",
            {
                "room": "general",
                "client_id": str(uuid.uuid4()),
                "image": {"data": png_bytes(640, 360, (61, 123, 224)), "name": "chart.png"},
            },
        )
    )
    alice.send_text("general", "Great, I'll review the fix after lunch.\nThanks for the heads-up!")
    run(bob.call("typing", {"room": "general", "typing": True}))
    qtbot.waitUntil(lambda: find(model, lambda m: m.kind == "image") is not None)
    qtbot.waitUntil(lambda: window.composer_panel.typing_label.text() == "bob is typing…")
    window.timeline.viewport().repaint()
    image = find(model, lambda m: m.kind == "image")
    qtbot.waitUntil(lambda: window.decoder.pixmap(f"{image.image.id}@thumb") is not None)
    qtbot.waitUntil(
        lambda: (
            find(model, lambda m: m.sender == "alice" and m.status == DeliveryStatus.SENT)
            is not None
        )
    )
    assert window.connection_status.plain_text() == "Connected"
    assert window.total_unread() == 0  # the room on screen in a focused window is read
    pixmap = window.grab()
    assert pixmap.save(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
