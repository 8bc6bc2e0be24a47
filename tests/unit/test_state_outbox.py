"""Outbox: survives reload, keeps order and image bytes, failed entries stay."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from desktop.net.outbox import Outbox, OutboxEntry, is_retryable


def entry(cid: str, text: str = "hi", username: str = "alice") -> OutboxEntry:
    return OutboxEntry(client_id=cid, room="general", username=username, ts=1, text=text)


def test_outbox_survives_a_reload_in_order_with_images(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.add(entry("a", "first"))
    box.add(entry("b", "second"), image=b"\x89PNGdata")
    box.add(entry("c", "other user", username="bob"))
    again = Outbox(tmp_path)
    assert [e.client_id for e in again.sendable("ALICE")] == ["a", "b"]
    b = again.get("b")
    assert b is not None and again.image_bytes(b) == b"\x89PNGdata"
    again.remove("b")
    again.flush()  # the writer thread deletes the file
    assert not list((tmp_path / "outbox").glob("*.bin"))
    assert [e.client_id for e in Outbox(tmp_path).entries()] == ["a", "c"]


def test_failed_entries_are_kept_but_not_sent_until_retried(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.add(entry("a"))
    box.mark_failed("a", "too large")
    reloaded = Outbox(tmp_path)
    assert reloaded.sendable("alice") == []
    assert reloaded.get("a") is not None and reloaded.get("a").error == "too large"  # type: ignore[union-attr]
    reloaded.mark_retry("a")
    assert [e.client_id for e in Outbox(tmp_path).sendable("alice")] == ["a"]


def test_a_corrupt_outbox_file_starts_empty_and_is_kept_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "outbox.json").write_text("{not json")
    with caplog.at_level(logging.ERROR):
        assert len(Outbox(tmp_path)) == 0
    assert "unreadable" in caplog.text
    assert [p.read_text() for p in (tmp_path / "outbox").glob("outbox.corrupt-*")] == ["{not json"]


def test_retryable_codes() -> None:
    assert is_retryable("rate_limited") and is_retryable("internal") and is_retryable("timeout")
    assert not is_retryable("too_large") and not is_retryable("forbidden")


def test_image_writes_happen_in_the_background_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    box.add(entry("img-1"), image)
    added = box.get("img-1")
    assert added is not None and box.image_bytes(added) == image  # at once, from memory
    reloaded = Outbox(tmp_path)  # loading waits for the writer: the file is complete
    again = reloaded.get("img-1")
    assert again is not None and reloaded.image_bytes(again) == image
    box.remove("img-1")
    box.flush()
    assert list((tmp_path / "outbox").glob("*.bin")) == []
    assert Outbox(tmp_path).get("img-1") is None
