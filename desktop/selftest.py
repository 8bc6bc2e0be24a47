"""``parley --self-test``: an end-to-end check of a built or installed app, offscreen.

It starts the embedded server on a free port in a temporary folder, opens the real main
window, and through the real UI path (typing in the composer and clicking Send; attaching
a generated PNG through the same code path as the file picker and drag & drop) sends a
text and an image to a second, headless python-socketio client, then checks protocol v2
round trips (an edit, a reaction each way, a search opened at its message). Each check is printed;
the exit code is 0 only if every check passed before the global timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop.cli import Options

logger = logging.getLogger(__name__)

PEER = "selftest-peer"
USER = "selftest"


class Checks:
    """Prints one line per check and remembers whether any failed."""

    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0
        self.current = "starting"

    def step(self, what: str) -> None:
        self.current = what

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok    {what}", flush=True)

    def fail(self, what: str) -> None:
        self.failed += 1
        print(f"FAIL  {what}", flush=True)

    def check(self, condition: bool, what: str) -> bool:
        (self.ok if condition else self.fail)(what)
        return condition


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` while the loop runs; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


def _make_png(path: Path) -> bytes:
    from PySide6.QtGui import QColor, QImage, QPainter

    image = QImage(320, 200, QImage.Format.Format_RGB32)
    image.fill(QColor("#3d7be0"))
    painter = QPainter(image)
    painter.fillRect(40, 40, 120, 120, QColor("#ffffff"))
    painter.end()
    image.save(str(path), "PNG")  # type: ignore[call-overload]  # the stub wants bytes, the binding a str
    return path.read_bytes()


async def _steps(checks: Checks, tmp: Path) -> None:
    import socketio
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from desktop.models.message_list import MessageRoles
    from desktop.net.client import ChatClient
    from desktop.net.embedded import EmbeddedServer
    from desktop.settings import AppSettings
    from desktop.state.types import DeliveryStatus, Message
    from desktop.ui.main_window import MainWindow

    checks.step("starting the embedded server")
    server = EmbeddedServer(tmp / "server", port=0)
    url = await server.start()
    checks.ok(f"embedded server listening on {url}")
    window: MainWindow | None = None
    client: ChatClient | None = None
    peer = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    received: list[dict[str, Any]] = []

    async def on_message(data: dict[str, Any]) -> None:
        received.append(data)
        # Acknowledge like a real client, so the sender sees "delivered".
        await peer.emit(
            "message:receipt", {"room": data["room"], "id": data["id"], "state": "delivered"}
        )

    peer.on("message", on_message)
    try:
        checks.step("opening the main window")
        settings = AppSettings(tmp / "app")
        client = ChatClient(tmp / "app")
        window = MainWindow(client, settings)
        window.show()
        checks.check(window.isVisible(), "main window shown")

        checks.step("signing in")
        signed_in = await client.connect_to(
            url, {"username": USER, "password": secrets.token_urlsafe(16)}
        )
        if not checks.check(signed_in, f"signed in as {USER}"):
            return
        await peer.connect(
            url,
            auth={"username": PEER, "password": secrets.token_urlsafe(16)},
            transports=["websocket"],
            wait_timeout=15,
        )
        checks.check(peer.connected, f"second client connected as {PEER}")

        checks.step("keeping the session token private")
        _check_token_storage(checks, settings, client.token or "")

        checks.step("opening #general")
        await wait_until(
            lambda: client.room_model.row_of("general") is not None, 15, "#general in the room list"
        )
        window.show_room("general")
        await wait_until(lambda: window.current_room == "general", 5, "#general shown")
        checks.ok("#general shown in the timeline")
        model = client.message_model("general")

        def own_message(predicate: Callable[[Message], bool]) -> Message | None:
            for row in range(model.rowCount()):
                msg = model.index(row, 0).data(MessageRoles.ItemRole)
                if isinstance(msg, Message) and msg.sender == USER and predicate(msg):
                    return msg
            return None

        def delivered(msg: Message | None) -> bool:
            return msg is not None and msg.status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ)

        # ---- text, typed and sent with the button
        checks.step("sending a text through the composer")
        text = f"self-test {secrets.token_hex(4)}"
        window.composer.setFocus()
        QTest.keyClicks(window.composer, text)
        checks.check(window.composer.toPlainText() == text, "typed into the composer")
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
        checks.check(window.composer.toPlainText() == "", "send button cleared the composer")
        await wait_until(
            lambda: own_message(lambda m: m.text == text) is not None, 10, "local echo of the text"
        )
        checks.ok("text shown in the timeline at once (local echo)")
        await wait_until(
            lambda: any(m.get("text") == text for m in received), 15, "the peer receiving the text"
        )
        checks.ok("second client received the text")
        await wait_until(
            lambda: delivered(own_message(lambda m: m.text == text)),
            15,
            "the text reaching DELIVERED",
        )
        checks.ok("text status reached DELIVERED")

        # ---- image, through the attach path
        checks.step("sending a PNG through the attach path")
        png_path = tmp / "self-test.png"
        png = _make_png(png_path)
        added = window.composer_panel.add_files([png_path])
        checks.check(
            added == 1 and len(window.composer_panel.chips) == 1, "PNG attached (preview shown)"
        )
        QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
        await wait_until(
            lambda: any(m.get("kind") == "image" for m in received),
            20,
            "the peer receiving the image",
        )
        got = next(m for m in received if m.get("kind") == "image")
        checks.check(
            int(got["image"]["size"]) == len(png), "second client received the PNG (same size)"
        )
        media = await peer.call("media:get", {"id": got["image"]["id"]}, timeout=15)
        checks.check(
            bytes(media.get("data") or b"") == png,
            "image bytes on the server are exactly the ones sent",
        )
        await wait_until(
            lambda: delivered(own_message(lambda m: m.kind == "image")),
            15,
            "the image reaching DELIVERED",
        )
        checks.ok("image status reached DELIVERED")
        await _v2_round_trips(checks, window, client, peer, text)

        # ---- a file (protocol v2): attach, upload, receive, download, compare
        from desktop.selftest_files import check_file_round_trip
        await check_file_round_trip(checks, window, client, received, tmp)
        grab = window.grab()
        checks.check(not grab.isNull() and grab.width() > 0, "main window renders offscreen")
    finally:
        if peer.connected:
            await peer.disconnect()
        if client is not None:
            await client.disconnect()
        if window is not None:
            window.close()
            window.deleteLater()
        await server.stop()


async def _v2_round_trips(checks: Checks, window: Any, client: Any, peer: Any,
                          text: str) -> None:
    """Protocol v2 through the real UI: edit the text, react both ways, search for it."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    updates: list[dict[str, Any]] = []

    async def on_updated(data: dict[str, Any]) -> None:
        updates.append(data.get("message") or {})

    peer.on("message:updated", on_updated)
    msg = next(m for m in client.messages.messages("general") if m.text == text)

    checks.step("editing the text through the composer")
    edited = f"{text} edited {secrets.token_hex(3)}"
    window.replies.start_edit(msg)
    window.composer.selectAll()
    QTest.keyClicks(window.composer, edited)
    QTest.keyClick(window.composer, Qt.Key.Key_Return)
    await wait_until(lambda: any(u.get("id") == msg.id and u.get("text") == edited
                                 and u.get("edited_ts") for u in updates),
                     15, "the peer receiving the edit")
    checks.ok("second client received the edit (message:updated)")

    checks.step("reacting both ways")
    ack = await peer.call("reaction:set", {"room": "general", "id": msg.id, "emoji": "🎉",
                                           "on": True}, timeout=15)
    checks.check(bool(ack.get("ok")), "second client reacted 🎉")
    await wait_until(lambda: ("🎉", (PEER,)) in (client.messages.get("general", msg.id)
                                                 or msg).reactions,
                     15, "the reaction reaching the window")
    checks.ok("the window shows the peer's 🎉")
    window.timeline.reactionToggled.emit(client.messages.get("general", msg.id), "👍")
    await wait_until(lambda: any(u.get("id") == msg.id and any(
        r.get("emoji") == "👍" and USER in r.get("users", []) for r in u.get("reactions", []))
        for u in updates), 15, "the peer receiving the reaction")
    checks.ok("second client received the 👍 (message:updated)")

    checks.step("searching for the edited text")
    window.search_action.trigger()
    panel = window.search.panel
    QTest.keyClicks(panel.field, edited.split()[-1])
    await wait_until(lambda: panel.results.state in ("results", "empty", "error")
                     and not panel._tasks and not panel.debounce.isActive(),
                     15, "the search results")
    found = [panel.model.result_at(r) for r in range(panel.model.rowCount())]
    checks.check(any(r is not None and r.message.id == msg.id and r.spans for r in found),
                 "search found the edited message, the word highlighted")
    QTest.keyClick(panel.field, Qt.Key.Key_Return)
    await wait_until(lambda: window.timeline.delegate.flash_id == msg.id, 15,
                     "the search result opening")
    checks.ok("the search result opened at its message")
    QTest.keyClick(panel.field, Qt.Key.Key_Escape)


def _check_token_storage(checks: Checks, settings: Any, token: str) -> None:
    """The token goes to the keyring or a 0600 file, never into settings.ini."""
    import stat

    settings.token = token
    settings.sync()
    try:
        where = "the system keyring" if settings.secrets.in_keyring else "a 0600 file"
        checks.check(settings.token == token, f"session token stored in {where}")
        checks.check(token.encode() not in settings.path.read_bytes(),
                     "no session token in settings.ini")
        checks.check(stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700,
                     "data folder private (0700)")
        secret_file = settings.secrets.path
        if secret_file.exists():
            checks.check(stat.S_IMODE(secret_file.stat().st_mode) == 0o600,
                         "secrets file private (0600)")
    finally:
        settings.clear_token()  # the self-test's throwaway session leaves nothing behind


async def _self_test(timeout: float) -> int:
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="parley-selftest-") as tmp:
        try:
            await asyncio.wait_for(_steps(checks, Path(tmp)), timeout)
        except TimeoutError as exc:
            checks.fail(
                f"timed out ({timeout:.0f} s budget) while {checks.current}: waiting for {exc or 'it'}"
            )
        except Exception as exc:  # any crash is a failed self-test, reported, not a traceback
            logger.debug("self-test crashed", exc_info=True)
            checks.fail(f"error while {checks.current}: {type(exc).__name__}: {exc}")
    ok = checks.failed == 0 and checks.passed > 0
    print(
        f"self-test {'passed' if ok else 'FAILED'}: {checks.passed} ok, {checks.failed} failed",
        flush=True,
    )
    return 0 if ok else 1


def run_self_test(opts: Options) -> int:
    """Run the self-test offscreen; returns the process exit code."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from desktop.app import ensure_application, run_on_qasync

    app = ensure_application()
    return run_on_qasync(app, _self_test(opts.self_test_timeout))
