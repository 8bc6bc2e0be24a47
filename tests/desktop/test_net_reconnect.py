"""Losing the server is visible and short: a banner with a countdown and "Reconnect now",
a backoff capped at about ten seconds, and immediate retries when the user asks, the
window regains focus, or the network comes back. Proven against a real server process
that is killed and restarted, twenty times over, for outages from 1 s to 40 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtNetwork import QNetworkInformation

from desktop.net.client import RECONNECT_CAP_S, RECONNECT_DELAYS_S, ChatClient
from tests.desktop.ui_helpers import make_window  # noqa: F401
from tests.support.server_process import ServerProcess

# 20 outages, 1 s to 40 s, about 2 minutes down in all (short ones are the common case).
OUTAGES_S = (1, 1, 2, 1, 3, 1, 5, 2, 8, 1, 2, 12, 1, 3, 20, 1, 2, 1, 25, 40)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "proc-server", "--rate-limit", "0", "--log-level", "WARNING")
    proc.start()
    yield proc
    proc.stop()


def _history(run: Any, peer: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = run(peer.call("message:history", {"room": "general", "after": after,
                                                 "limit": 100}))
        out.extend(page["messages"])
        if not page["has_more"] or not page["messages"]:
            return out
        after = page["messages"][-1]["id"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_twenty_real_outages_each_end_with_the_app_back_and_its_outbox_delivered(
    server_process: ServerProcess, make_client: Any, make_peer: Any, run: Any, qtbot: Any
) -> None:
    assert len(OUTAGES_S) == 20 and min(OUTAGES_S) == 1 and max(OUTAGES_S) == 40
    alice: ChatClient = make_client(server_process.url, "alice")
    alice.reconnect_delays = RECONNECT_DELAYS_S  # the real ladder, not the fixture's fast one
    sent: list[str] = []
    for n, outage in enumerate(OUTAGES_S):
        before = len(alice.scheduled_delays)
        if n % 2:
            server_process.kill()  # a crash
        else:
            server_process.stop()  # a clean restart (the server closes the sockets itself)
        qtbot.waitUntil(lambda: alice.state in ("reconnecting", "connecting"), timeout=10_000)
        # written while the server is away: queued on disk, shown as pending
        sent += [alice.send_text("general", f"outage {n} msg {i}") for i in range(2)]
        qtbot.wait(outage * 1000)  # the outage itself: the server stays down this long
        server_process.start()
        # back within one capped delay (plus the attempt itself), without any help
        qtbot.waitUntil(lambda: alice.state == "connected" and not alice.outbox.entries(),
                        timeout=int((RECONNECT_CAP_S + 20) * 1000))
        delays = list(alice.scheduled_delays)[before:]
        assert all(0 < d <= RECONNECT_CAP_S for d in delays), delays
    # the ladder did reach its top during the long outages, and never beyond it
    assert max(alice.scheduled_delays) > RECONNECT_DELAYS_S[-2]
    assert max(alice.scheduled_delays) <= RECONNECT_CAP_S
    bob = make_peer(server_process.url, "bob")
    stored = [m["client_id"] for m in _history(run, bob) if m["sender"] == "alice"]
    assert stored == sent, "every message delivered exactly once, in order"


def test_the_banner_counts_down_and_reconnects_now_on_the_button_focus_or_network(
    server_process: ServerProcess, make_client: Any, make_window: Any,  # noqa: F811
    qtbot: Any,
) -> None:
    alice: ChatClient = make_client(server_process.url, "alice")
    alice.reconnect_delays = (60,)  # a long wait, so only the immediate triggers bring her back
    alice.reconnect_cap_s = 60
    window = make_window(alice)
    banner = window.reconnect_banner
    assert not banner.isVisible()

    def lose_and_restart() -> None:
        server_process.kill()
        qtbot.waitUntil(lambda: alice.state == "reconnecting" and banner.isVisible(),
                        timeout=10_000)
        assert banner.text().startswith("Connection lost. Reconnecting in ")
        assert banner.button.text() == "Reconnect now" and banner.button.isEnabled()
        server_process.start()

    qtbot.waitUntil(lambda: alice.members.is_online("alice"))
    # 1. the button
    lose_and_restart()
    assert not alice.members.is_online("alice")  # presence is unknown while away
    banner.button.click()
    qtbot.waitUntil(lambda: alice.state == "connected" and not banner.isVisible(),
                    timeout=10_000)
    qtbot.waitUntil(lambda: alice.members.is_online("alice"))  # fetched again
    # 2. the window regains focus
    lose_and_restart()
    alice.set_window_focused(False)
    alice.set_window_focused(True)
    qtbot.waitUntil(lambda: alice.state == "connected", timeout=10_000)
    # 3. the OS reports the network back (the slot QNetworkInformation's signal drives)
    lose_and_restart()
    alice.on_network_reachability_changed(QNetworkInformation.Reachability.Online)
    qtbot.waitUntil(lambda: alice.state == "connected", timeout=10_000)
    assert not banner.isVisible()
    # 4. the OS reports the network gone: the loss shows at once (no ping timeout to wait
    # out), and being online again reconnects at once
    states: list[str] = []
    alice.connectionStateChanged.connect(lambda state, _n: states.append(state))
    alice.on_network_reachability_changed(QNetworkInformation.Reachability.Disconnected)
    qtbot.waitUntil(lambda: "connecting" in states, timeout=10_000)
    qtbot.waitUntil(lambda: alice.state == "connected", timeout=10_000)
    assert min(alice.scheduled_delays) > 40  # each time a long wait was due, and skipped


def test_server_limits_are_refreshed_on_every_reconnect(
    server_process: ServerProcess, make_client: Any, make_window: Any,  # noqa: F811
    qtbot: Any,
) -> None:
    alice: ChatClient = make_client(server_process.url, "alice")
    window = make_window(alice)
    assert window.composer_panel.max_image_bytes == alice.limits["max_image_bytes"]
    before = alice.limits["max_image_bytes"]
    server_process.stop()
    server_process.extra_args += ["--max-image-mb", "1"]  # restarted with a smaller limit
    server_process.start()
    alice.reconnect_now()
    qtbot.waitUntil(lambda: alice.state == "connected"
                    and alice.limits["max_image_bytes"] == 1024 * 1024, timeout=15_000)
    assert before != 1024 * 1024
    assert window.composer_panel.max_image_bytes == 1024 * 1024  # the UI knows it too
