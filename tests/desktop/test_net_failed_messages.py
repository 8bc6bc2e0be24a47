"""A message the server will never take can be deleted, is not offered a Retry that
cannot help, and does not sit pinned under everything said after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.models.message_list import MessageRoles
from desktop.net.client import ChatClient
from desktop.state.types import DeliveryStatus
from tests.desktop.ui_helpers import find, make_window, row_of  # noqa: F401


def _noise_png() -> bytes:
    """A PNG that does not compress below the test server's 2 KB limit."""
    import io
    import os

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(buf, "PNG")
    return buf.getvalue()


def _menu_texts(window: Any, model: Any, row: int) -> list[str]:
    timeline = window.timeline
    timeline.scrollTo(model.index(row, 0))
    rect = timeline.visualRect(model.index(row, 0))
    menu = timeline.context_menu_at(rect.center())
    assert menu is not None
    texts = [a.text() for a in menu.actions()]
    menu.deleteLater()
    return texts


def test_refused_messages_can_be_deleted_and_sit_by_time_not_under_newer_ones(
    start_test_server: Any, make_client: Any, make_peer: Any, make_window: Any,  # noqa: F811
    run: Any, qtbot: Any, tmp_path: Path,
) -> None:
    url = start_test_server(max_image_bytes=2_000, max_text_chars=50)
    data_dir = tmp_path / "alice-app"
    alice = make_client(url, "alice", data_dir=data_dir)
    bob = make_peer(url, "bob")
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")

    too_long = alice.send_text("general", "x" * 60)  # too_large
    too_big = alice.send_image("general", _noise_png(), "big.png")  # too_large
    not_image = alice.send_image("general", b"just some text, not an image", "a.png")
    refused = [too_long, too_big, not_image]
    qtbot.waitUntil(lambda: all(alice.outbox.get(c) is not None and alice.outbox.get(c).failed
                                for c in refused), timeout=15_000)
    assert {alice.outbox.get(c).error_code for c in refused} == {"too_large",
                                                                 "unsupported_media"}
    for cid in refused:
        assert not alice.can_retry(cid)
        attempts = alice.outbox.get(cid).attempts
        alice.retry(cid)  # a Retry that cannot help is not even tried
        assert alice.outbox.get(cid).failed and alice.outbox.get(cid).attempts == attempts
        echo = alice.messages.find_client_id(cid)
        assert echo.status == DeliveryStatus.FAILED and not echo.retryable

    # the conversation goes on: newer messages come below the failed ones, not above
    for i in range(3):
        run(bob.call("message:send", {"room": "general", "client_id": f"b{i}",
                                      "text": f"later {i}"}))
    qtbot.waitUntil(lambda: find(model, lambda m: m.text == "later 2") is not None)
    failed_rows = [row_of(model, lambda m, c=c: m.client_id == c) for c in refused]
    later_rows = [row_of(model, lambda m, i=i: m.text == f"later {i}") for i in range(3)]
    assert max(failed_rows) < min(later_rows), (failed_rows, later_rows)
    index = model.index(failed_rows[0], 0)
    assert index.data(MessageRoles.ReceiptTextRole).startswith("Not sent")

    # no Retry in the menu, but Delete; deleting takes it off the screen and the disk
    assert _menu_texts(window, model, failed_rows[0]) == ["Copy text", "Delete message"]
    assert "Retry sending" not in _menu_texts(window, model, failed_rows[1])
    timeline = window.timeline
    for cid in refused:
        row = row_of(model, lambda m, c=cid: m.client_id == c)
        rect = timeline.visualRect(model.index(row, 0))
        menu = timeline.context_menu_at(rect.center())
        delete = next(a for a in menu.actions() if a.text() == "Delete message")
        delete.trigger()
        menu.deleteLater()
        qtbot.waitUntil(lambda c=cid: find(model, lambda m: m.client_id == c) is None)
    assert alice.outbox.entries() == []

    # and it stays gone after a restart
    run(alice.disconnect())
    again = make_client(url, "alice", data_dir=data_dir)
    assert again.outbox.entries() == []
    assert all(m.id is not None for m in again.messages.messages("general"))


def test_a_message_that_gave_up_on_a_busy_server_offers_retry_and_delete(
    start_test_server: Any, make_client: Any, make_window: Any, run: Any,  # noqa: F811
    qtbot: Any,
) -> None:
    url = start_test_server(rate_limit_messages=1, rate_limit_window_s=600.0)
    alice: ChatClient = make_client(url, "alice")
    alice.max_send_attempts = 2
    window = make_window(alice)
    qtbot.waitUntil(lambda: window.current_room == "general")
    model = alice.message_model("general")
    alice.send_text("general", "first")  # uses up the window
    busy = alice.send_text("general", "second")
    qtbot.waitUntil(lambda: alice.outbox.get(busy) is not None
                    and alice.outbox.get(busy).failed, timeout=15_000)
    assert alice.can_retry(busy) and alice.messages.find_client_id(busy).retryable
    row = row_of(model, lambda m: m.client_id == busy)
    assert _menu_texts(window, model, row) == ["Copy text", "Retry sending", "Delete message"]
    alice.retry(busy)  # retrying is allowed: it goes out again (and fails again, still busy)
    assert alice.messages.find_client_id(busy).status == DeliveryStatus.PENDING
    qtbot.waitUntil(lambda: alice.outbox.get(busy).failed, timeout=15_000)
