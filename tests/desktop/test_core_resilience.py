"""Nothing lost, nothing doubled: app restarts and server crashes mid-conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop.state.types import DeliveryStatus
from tests.support.server_process import ServerProcess


def _history(run: Any, peer: Any, room: str = "general") -> list[dict[str, Any]]:
    """Every message of ``room`` as the server stores it, ascending."""
    messages: list[dict[str, Any]] = []
    after = 0
    while True:
        page = run(peer.call("message:history", {"room": room, "after": after, "limit": 100}))
        messages.extend(page["messages"])
        if not page["has_more"] or not page["messages"]:
            return messages
        after = page["messages"][-1]["id"]


def test_outbox_survives_an_app_restart_and_sends_exactly_once(
    server_url: str, make_client: Any, make_peer: Any, run: Any, qtbot: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "alice-app"
    first = make_client(server_url, "alice", data_dir=data_dir)
    run(first.disconnect())
    cids = [first.send_text("general", f"offline {i}") for i in range(3)]
    image_cid = first.send_image("general", b"\x89PNG\r\n\x1a\n" + b"x" * 10, "broken.png")
    assert [e.client_id for e in first.outbox.entries()] == [*cids, image_cid]

    second = make_client(server_url, "alice", data_dir=data_dir)
    bob = make_peer(server_url, "bob")
    qtbot.waitUntil(lambda: all(second.outbox.get(c) is None for c in cids), timeout=10_000)
    # the broken image is refused by the server: kept as failed, not retried forever
    qtbot.waitUntil(lambda: second.outbox.get(image_cid) is not None
                    and second.outbox.get(image_cid).failed, timeout=10_000)
    echo = second.messages.find_client_id(image_cid)
    assert echo is not None and echo.status == DeliveryStatus.FAILED and echo.error
    stored = [m for m in _history(run, bob) if m["sender"] == "alice"]
    assert [m["text"] for m in stored] == ["offline 0", "offline 1", "offline 2"]
    assert [m["client_id"] for m in stored] == cids
    second.discard(image_cid)
    assert second.outbox.entries() == [] and second.messages.find_client_id(image_cid) is None


@pytest.fixture
def server_process(tmp_path: Path) -> Any:
    proc = ServerProcess(tmp_path / "proc-server", "--rate-limit", "0", "--log-level", "WARNING")
    proc.start()
    yield proc
    proc.stop()


def test_server_killed_and_restarted_mid_conversation_loses_and_doubles_nothing(
    server_process: ServerProcess, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    url = server_process.url
    alice = make_client(url, "alice")
    bob = make_peer(url, "bob")
    states: list[str] = []
    alice.connectionStateChanged.connect(lambda state, _n: states.append(state))

    # a conversation is going on
    for i in range(3):
        alice.send_text("general", f"a-before-{i}")
        run(bob.call("message:send", {"room": "general", "client_id": f"b-before-{i}",
                                      "text": f"b-before-{i}"}))
    qtbot.waitUntil(lambda: alice.outbox.entries() == [], timeout=10_000)

    # the server dies; alice keeps typing, some sends are in flight or queued
    alice.reconnect_delays = (60,)  # she stays away until we say so
    in_flight = alice.send_text("general", "a-during-0")
    server_process.kill()
    qtbot.waitUntil(lambda: "reconnecting" in states, timeout=10_000)
    queued = [alice.send_text("general", f"a-during-{i}") for i in range(1, 4)]
    assert all(alice.messages.find_client_id(c).status == DeliveryStatus.PENDING
               for c in queued)

    # it comes back; bob talks before alice is back, so she has to catch up
    server_process.start()
    run(bob.close())
    bob2 = make_peer(url, "bob")
    missed = []
    for i in range(150):  # more than one history page
        ack = run(bob2.call("message:send", {"room": "general", "client_id": f"b-missed-{i}",
                                             "text": f"b-missed-{i}"}))
        missed.append(ack["message"]["id"])
    alice.reconnect_now()
    qtbot.waitUntil(lambda: alice.state == "connected", timeout=15_000)
    qtbot.waitUntil(lambda: alice.outbox.entries() == [], timeout=15_000)

    stored = _history(run, bob2)
    alice_texts = [m["text"] for m in stored if m["sender"] == "alice"]
    assert alice_texts == [f"a-before-{i}" for i in range(3)] + [f"a-during-{i}" for i in range(4)]
    assert in_flight in {m["client_id"] for m in stored}

    local = alice.messages.messages("general")
    ids = [m.id for m in local]
    assert None not in ids, "no echo may stay pending"
    assert ids == sorted(set(ids)), "ids ascending and unique"
    local_ids = set(ids)
    assert set(missed) <= local_ids
    assert [m.text for m in local if m.text.startswith("b-missed-")] == [
        f"b-missed-{i}" for i in range(150)]
    assert {m["id"] for m in stored} - local_ids <= {
        m["id"] for m in stored if m["id"] < min(ids)}, "no gap after the oldest loaded"
    model = alice.message_model("general")
    qtbot.waitUntil(lambda: model.rowCount() == len(local))


def test_rate_limited_sends_back_off_and_all_land_once_in_order(
    start_test_server: Any, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    url = start_test_server(rate_limit_messages=3, rate_limit_window_s=1.0)
    alice = make_client(url, "alice")
    bob = make_peer(url, "bob")
    cids = [alice.send_text("general", f"burst {i}") for i in range(8)]
    qtbot.waitUntil(lambda: alice.outbox.entries() == [], timeout=30_000)
    stored = [m for m in _history(run, bob) if m["sender"] == "alice"]
    assert [m["client_id"] for m in stored] == cids
    assert all(alice.messages.find_client_id(c).status >= DeliveryStatus.SENT for c in cids)
