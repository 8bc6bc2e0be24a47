"""MessageStore: id order, echo replacement, dedupe, status ladder."""

from __future__ import annotations

import logging

import pytest

from desktop.state.messages import MessageStore
from desktop.state.types import Change, DeliveryStatus, Message


def msg(mid: int | None, sender: str = "bob", room: str = "general", cid: str | None = None,
        text: str = "hi") -> Message:
    # an echo is written "now": after the numbered messages a test loads
    return Message(id=mid, room=room, sender=sender,
                   ts=1_764_100_000_000 + (mid if mid is not None else 1000),
                   kind="text", text=text, client_id=cid,
                   status=DeliveryStatus.PENDING if mid is None else DeliveryStatus.SENT)


def ids(store: MessageStore, room: str = "general") -> list[int | None]:
    return [m.id for m in store.messages(room)]


def test_messages_inserted_out_of_order_are_kept_by_id_without_duplicates() -> None:
    store = MessageStore("alice")
    store.add_many("general", [msg(5), msg(2), msg(9)])
    store.add(msg(7))
    store.add(msg(2))
    assert store.add_many("general", [msg(9), msg(1)]) == 1
    assert ids(store) == [1, 2, 5, 7, 9]
    assert store.newest_id("general") == 9
    assert store.oldest_id("general") == 1
    assert store.newest_id("elsewhere") is None


def test_pending_echoes_sit_by_creation_time_among_confirmed_messages() -> None:
    store = MessageStore("alice")
    store.add(msg(3))
    a, b = msg(None, "alice", cid="a"), msg(None, "alice", cid="b")
    a.ts = b.ts = msg(3).ts + 1  # written after 3 ...
    store.add_pending(a)
    store.add_pending(b)
    store.add(msg(40))  # ... and what others say later comes after them, not above
    store.add(msg(2))  # older history loaded later goes above
    rows = [(m.id, m.client_id) for m in store.messages("general")]
    assert rows == [(2, None), (3, None), (None, "a"), (None, "b"), (40, None)]
    assert [store.message_at("general", r) for r in range(5)] == store.messages("general")
    assert [store.row_of(m) for m in store.messages("general")] == [0, 1, 2, 3, 4]
    # a failed echo keeps its place under newer messages; deleting it closes the gap
    store.mark_failed("a", "too large")
    store.add(msg(41))
    assert ids(store) == [2, 3, None, None, 40, 41]
    assert store.remove_pending("a") and ids(store) == [2, 3, None, 40, 41]
    # an echo restored before any history (app restart) ends up by time once it loads
    restored = MessageStore("alice")
    late = msg(None, "alice", room="r", cid="late")
    late.ts = msg(5).ts
    restored.add_pending(late)
    restored.add_many("r", [msg(3, room="r"), msg(4, room="r"), msg(9, room="r")])
    assert ids(restored, "r") == [3, 4, None, 9]


def test_acked_copy_replaces_the_echo_in_place_once() -> None:
    store = MessageStore("alice")
    store.add_pending(msg(None, "alice", cid="a"))
    store.add_pending(msg(None, "alice", cid="b"))
    store.add(msg(10, "alice", cid="a"))
    rows = store.messages("general")
    assert [(m.id, m.client_id) for m in rows] == [(10, "a"), (None, "b")]
    assert rows[0].status == DeliveryStatus.SENT
    # the same message again (history after a reconnect, or the resend's ack) is a no-op
    assert store.add(msg(10, "alice", cid="a")) is False
    assert store.count("general") == 2


def test_another_users_client_id_never_replaces_my_echo() -> None:
    store = MessageStore("alice")
    store.add_pending(msg(None, "alice", cid="same"))
    store.add(msg(4, "bob", cid="same"))
    assert [(m.id, m.sender) for m in store.messages("general")] == [(4, "bob"), (None, "alice")]


def test_echo_acked_below_a_newer_message_moves_to_its_id_position() -> None:
    store = MessageStore("alice")
    store.add_pending(msg(None, "alice", cid="a"))
    store.add(msg(11))
    store.add(msg(10, "alice", cid="a"))
    assert ids(store) == [10, 11]


def test_status_moves_up_only_and_covers_only_own_messages() -> None:
    store = MessageStore("alice")
    store.add_many("general", [msg(1, "alice", cid="x"), msg(2, "bob"), msg(3, "alice", cid="y"),
                               msg(4, "alice", cid="z")])
    store.apply_status("general", 3, DeliveryStatus.READ, count=1, of=2)
    store.apply_status("general", 4, DeliveryStatus.DELIVERED, count=1, of=2)
    store.apply_status("general", 4, DeliveryStatus.DELIVERED, count=1, of=2)
    by_id = {m.id: m for m in store.messages("general")}
    assert by_id[1].status == DeliveryStatus.READ
    assert by_id[2].status == DeliveryStatus.SENT  # bob's message: not ours to track
    assert by_id[3].status == DeliveryStatus.READ
    assert by_id[3].receipts is not None and by_id[3].receipts.read == 1
    assert by_id[4].status == DeliveryStatus.DELIVERED
    store.apply_status("general", 1, DeliveryStatus.DELIVERED)
    assert by_id[1].status == DeliveryStatus.READ  # never back


def test_status_seen_before_an_older_page_loads_still_applies_to_it() -> None:
    store = MessageStore("alice")
    store.add(msg(50, "alice", cid="late"))
    store.apply_status("general", 50, DeliveryStatus.READ)
    store.add_many("general", [msg(20, "alice", cid="old")])
    assert store.get("general", 20) is not None
    assert store.get("general", 20).status == DeliveryStatus.READ  # type: ignore[union-attr]


def test_failed_echo_can_be_retried_or_discarded() -> None:
    store = MessageStore("alice")
    store.add_pending(msg(None, "alice", cid="a"))
    store.mark_failed("a", "too large")
    echo = store.find_client_id("a")
    assert echo is not None and echo.status == DeliveryStatus.FAILED and echo.error == "too large"
    store.mark_pending("a")
    assert echo.status == DeliveryStatus.PENDING and echo.error is None
    assert store.remove_pending("a") is True
    assert store.count("general") == 0


def test_listeners_get_row_indexes_that_match_the_rows_at_emission() -> None:
    store = MessageStore("alice")
    seen: list[tuple[str, tuple[int, ...], list[int | None]]] = []

    def listener(change: Change) -> None:
        seen.append((change.kind, change.rows, [m.id for m in store.messages("general")]))

    store.add(msg(5))
    store.subscribe(listener)
    store.add_pending(msg(None, "alice", cid="a"))
    store.add_many("general", [msg(3), msg(8, "alice", cid="a"), msg(9)])
    store.apply_status("general", 8, DeliveryStatus.DELIVERED)
    assert seen == [
        ("inserted", (1,), [5, None]),
        ("inserted", (0,), [3, 5, None]),
        ("removed", (2,), [3, 5]),
        ("inserted", (2, 3), [3, 5, 8, 9]),
        ("updated", (2,), [3, 5, 8, 9]),
    ]
    assert seen[-1][0] == "updated"


def test_a_broken_listener_does_not_break_the_store(caplog: pytest.LogCaptureFixture) -> None:
    store = MessageStore("alice")
    later: list[Change] = []

    def broken(change: Change) -> None:
        raise RuntimeError("boom")

    store.subscribe(broken)
    store.subscribe(later.append)
    with caplog.at_level(logging.ERROR):
        store.add(msg(1))
    assert ids(store) == [1] and len(later) == 1
    assert "store listener failed" in caplog.text
