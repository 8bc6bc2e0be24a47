# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""Images and files into the composer: drag & drop (file URLs and raw data), paste, the
attach path, and refusals (over the file limit) shown inline next to the composer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from desktop.state.types import DeliveryStatus
from tests.desktop.ui_helpers import drop_on, find, make_window, png_bytes  # noqa: F401

SMALL_LIMIT = 50_000


@pytest.fixture
def small_server_url(run, tmp_path: Path) -> Iterator[str]:
    """A real server whose image limit is small, so "too large" needs no huge files."""
    from server.app import start_server
    from server.config import ServerConfig

    cfg = ServerConfig(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "small-server",
        rate_limit_messages=0,
        max_image_bytes=SMALL_LIMIT,
        log_level="WARNING",
    )
    running = run(start_server(cfg))
    try:
        yield str(running.url)
    finally:
        run(running.stop())


def _window(url, make_client, make_window, qtbot):
    alice = make_client(url, "alice")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    return alice, window


def _send_and_wait_delivered_to(peer, window, alice, qtbot, count: int) -> list[dict]:
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: len([m for m in peer.of("message") if m.get("kind") == "image"]) >= count
    )
    return [m for m in peer.of("message") if m.get("kind") == "image"]


def test_drop_file_urls_on_composer_and_timeline(
    server_url, make_client, make_peer, make_window, run, qtbot, tmp_path
):
    alice, window = _window(server_url, make_client, make_window, qtbot)
    bob = make_peer(server_url, "bob")
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    first.write_bytes(png_bytes(30, 20))
    second.write_bytes(png_bytes(20, 30, (10, 200, 10)))

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(first))])
    assert drop_on(window.composer.viewport(), mime)
    mime2 = QMimeData()
    mime2.setUrls([QUrl.fromLocalFile(str(second))])
    assert drop_on(window.timeline.viewport(), mime2)
    assert not window.timeline.drop_hint  # the "drop here" overlay is gone after the drop
    assert [c.attachment.name for c in window.composer_panel.chips] == ["one.png", "two.png"]
    assert window.composer.toPlainText() == ""  # the path was not pasted as text

    # remove one from the preview strip before sending
    qtbot.mouseClick(window.composer_panel.chips[1].remove_button, Qt.MouseButton.LeftButton)
    assert [c.attachment.name for c in window.composer_panel.chips] == ["one.png"]
    got = _send_and_wait_delivered_to(bob, window, alice, qtbot, 1)
    assert got[0]["image"]["name"] == "one.png"
    assert (got[0]["image"]["width"], got[0]["image"]["height"]) == (30, 20)
    # the pending echo showed at once and ends up acknowledged
    model = alice.message_model("general")
    qtbot.waitUntil(
        lambda: (
            find(model, lambda m: m.kind == "image" and m.status >= DeliveryStatus.SENT and m.id)
            is not None
        )
    )


@pytest.mark.parametrize("fmt", ["image/png", "application/octet-stream"])
def test_drop_raw_image_data_from_a_browser(
    fmt, server_url, make_client, make_peer, make_window, qtbot
):
    alice, window = _window(server_url, make_client, make_window, qtbot)
    bob = make_peer(server_url, "bob")
    data = png_bytes(40, 40, (250, 0, 0))
    mime = QMimeData()
    # What a browser drag carries: a web URL (not a local file) plus the bytes.
    mime.setUrls([QUrl("https://example.com/cat.png")])
    mime.setData(fmt, QByteArray(data))
    assert drop_on(window.timeline.viewport(), mime)
    assert len(window.composer_panel.chips) == 1
    assert window.composer_panel.chips[0].attachment.data == data
    got = _send_and_wait_delivered_to(bob, window, alice, qtbot, 1)
    assert got[0]["image"]["size"] == len(data)


@pytest.fixture
def clipboard():
    """The application clipboard, emptied afterwards: a QMimeData it still owns when the
    interpreter exits is freed twice (a segfault at exit)."""
    board = QGuiApplication.clipboard()
    yield board
    board.clear()
    QGuiApplication.processEvents()


def test_paste_image_from_clipboard(
    server_url, make_client, make_peer, make_window, qtbot, clipboard
):
    alice, window = _window(server_url, make_client, make_window, qtbot)
    bob = make_peer(server_url, "bob")
    image = QImage(50, 25, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    mime = QMimeData()
    mime.setImageData(image)
    clipboard.setMimeData(mime)
    window.composer.setFocus()
    qtbot.keyClick(window.composer, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.composer_panel.chips) == 1)
    assert window.composer_panel.chips[0].attachment.mime == "image/png"
    # a typed line becomes the single image's caption
    qtbot.keyClicks(window.composer, "from the clipboard")
    got = _send_and_wait_delivered_to(bob, window, alice, qtbot, 1)
    assert (got[0]["image"]["width"], got[0]["image"]["height"]) == (50, 25)
    assert got[0]["text"] == "from the clipboard"
    # plain text still pastes as text
    text_mime = QMimeData()
    text_mime.setText("just words")
    clipboard.setMimeData(text_mime)
    qtbot.keyClick(window.composer, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert window.composer.toPlainText() == "just words"
    assert window.composer_panel.chips == []


def test_any_file_is_attached_and_only_the_file_limit_refuses_inline(
    start_test_server, make_client, make_window, qtbot, tmp_path
):
    url = start_test_server(max_image_bytes=SMALL_LIMIT, max_file_bytes=4 * SMALL_LIMIT)
    alice, window = _window(url, make_client, make_window, qtbot)
    panel = window.composer_panel
    # both limits are taken from the session's limits
    assert (panel.max_image_bytes, panel.max_file_bytes) == (SMALL_LIMIT, 4 * SMALL_LIMIT)

    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(notes))])
    drop_on(window.composer.viewport(), mime)
    assert [c.attachment.name for c in panel.chips] == ["notes.txt"]
    assert panel.chips[0].attachment.path == notes  # read when it uploads, not now
    assert not panel.error_label.isVisible()

    # a .png that is text is a file, not an image (sniffed, the name is not trusted)
    disguised = tmp_path / "fake.png"
    disguised.write_bytes(b"hello, I am text")
    assert panel.add_files([disguised]) == 1
    assert panel.chips[-1].attachment.mime == "application/octet-stream"

    # an image over the image limit goes as a file; over the file limit it is refused
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(8, 8) + b"\0" * (SMALL_LIMIT + 10))
    assert panel.add_files([big]) == 1
    assert panel.chips[-1].attachment.path == big
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_bytes(8, 8) + b"\0" * (5 * SMALL_LIMIT))
    assert panel.add_files([huge]) == 0
    assert panel.error_label.isVisible()
    assert panel.error_label.text() == "huge.png is 244 KB; this server takes files up to 195 KB."

    # raw bytes that are no image are a file too
    raw = QMimeData()
    raw.setData("application/octet-stream", QByteArray(b"%PDF-1.4 not an image"))
    assert drop_on(window.timeline.viewport(), raw)
    assert panel.chips[-1].attachment.data == b"%PDF-1.4 not an image"

    # a good image clears the message and still goes as an image
    ok = tmp_path / "ok.png"
    ok.write_bytes(png_bytes(10, 10))
    assert panel.add_files([ok]) == 1
    assert not panel.error_label.isVisible()
    assert panel.chips[-1].attachment.path is None and panel.chips[-1].attachment.data


def test_text_over_the_limit_is_refused_inline(server_url, make_client, make_window, qtbot):
    alice, window = _window(server_url, make_client, make_window, qtbot)
    panel = window.composer_panel
    window.composer.setPlainText("x" * (panel.max_text_chars + 1))
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    assert panel.error_label.isVisible()
    assert "limit" in panel.error_label.text()
    assert window.composer.toPlainText()  # nothing lost
    model = alice.message_model("general")
    assert find(model, lambda m: m.sender == "alice" and m.kind == "text") is None
