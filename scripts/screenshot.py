"""Render the README screenshot and the gallery in ``docs/screenshots/`` from the real window.

Nothing is mocked: it starts the embedded server in a temporary folder, has headless
python-socketio users (alice, bob, carol) create rooms, a private room and DMs, post text
and images and send receipts, then opens the real ``MainWindow`` over a real
``ChatClient`` signed in as alice, waits until the timeline and its thumbnails are in,
and ``grab()``s it. Re-run it after UI changes:

    QT_QPA_PLATFORM=offscreen python scripts/screenshot.py [--dark] [--out PATH]
    QT_QPA_PLATFORM=offscreen python scripts/screenshot.py --all

``--all`` writes ``docs/screenshot.png`` (the README's) and, into ``docs/screenshots/``, the
window at 700, 1000 and 1440 px wide in the light and the dark theme, the protocol v2
features (``feature-*.png``: a reply thread, reactions, search results) and a room of
shared files (``parley-files-*``, see ``scripts/screenshot_files.py``). PNGs are reduced
to a 256-colour palette so they stay small in git.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import aiohttp  # noqa: E402
import socketio  # noqa: E402
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt  # noqa: E402
from PySide6.QtGui import (  # noqa: E402
    QColor,
    QFont,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPixmap,
)
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.app import ensure_application, run_on_qasync  # noqa: E402
from desktop.media.decoder import ImageDecoder  # noqa: E402
from desktop.net.client import ChatClient  # noqa: E402
from desktop.net.embedded import EmbeddedServer  # noqa: E402
from desktop.settings import AppSettings  # noqa: E402
from desktop.ui import theme  # noqa: E402
from desktop.ui.main_window import MainWindow  # noqa: E402

logger = logging.getLogger("screenshot")

PASSWORD = "correct-horse-battery"
WINDOW_SIZE = QSize(1280, 860)
GALLERY_WIDTHS = (700, 1000, 1440)
GALLERY_HEIGHT = 860
SHOWN_ROOM = "design"


# ----------------------------------------------------------------------------- demo images
def _encode(image: QImage, fmt: str = "PNG") -> bytes:
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6 takes the format as str at run time; its stubs say bytes.
    image.save(buffer, fmt, 90)  # type: ignore[call-overload]
    buffer.close()
    return bytes(array.data())


def sidebar_mockup() -> bytes:
    """A wireframe of a chat sidebar, the kind of picture a designer drops into a room."""
    w, h = 880, 560
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor("#f4f1ea"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#2a2d3a"))
    p.drawRoundedRect(QRectF(40, 40, 250, 480), 18, 18)
    names = ["general", "design", "release", "random"]
    for i, name in enumerate(names):
        y = 90 + i * 62
        if name == "design":
            p.setBrush(QColor("#3d7be0"))
            p.drawRoundedRect(QRectF(56, y - 14, 218, 48), 10, 10)
        p.setPen(QColor("#ffffff") if name == "design" else QColor("#c9cbd6"))
        font = QFont("DejaVu Sans", 17)
        font.setBold(name in ("general", "release"))
        p.setFont(font)
        p.drawText(QPointF(80, y + 17), f"# {name}")
        p.setPen(Qt.PenStyle.NoPen)
        if name in ("general", "release"):
            p.setBrush(QColor("#e0564f"))
            p.drawEllipse(QPointF(248, y + 10), 13, 13)
            p.setPen(QColor("#ffffff"))
            p.setFont(QFont("DejaVu Sans", 12, QFont.Weight.Bold))
            p.drawText(QRectF(235, y - 3, 26, 26), Qt.AlignmentFlag.AlignCenter, "3")
            p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#ffffff"))
    p.drawRoundedRect(QRectF(320, 40, 520, 480), 18, 18)
    for i, (width, colour) in enumerate(
        [(360, "#dfe6f5"), (250, "#dfe6f5"), (300, "#cfe9dc"), (410, "#dfe6f5"), (180, "#cfe9dc")]
    ):
        x = 350 if colour == "#dfe6f5" else 810 - width
        p.setBrush(QColor(colour))
        p.drawRoundedRect(QRectF(x, 70 + i * 82, width, 56), 16, 16)
    p.setPen(QColor("#8a8f9c"))
    p.setFont(QFont("DejaVu Sans", 14))
    p.drawText(
        QRectF(320, 486, 520, 30), Qt.AlignmentFlag.AlignCenter, "sidebar v2 - unread in bold"
    )
    p.end()
    return _encode(image)


def dark_theme_shot() -> bytes:
    """A dusk landscape, sent as a JPEG (the timeline shows it at its aspect ratio)."""
    w, h = 960, 600
    image = QImage(w, h, QImage.Format.Format_RGB32)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    sky = QLinearGradient(0, 0, 0, h)
    sky.setColorAt(0.0, QColor("#1b2140"))
    sky.setColorAt(0.55, QColor("#6b4f9e"))
    sky.setColorAt(1.0, QColor("#f0a36b"))
    p.fillRect(0, 0, w, h, sky)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#ffd58a"))
    p.drawEllipse(QPointF(690, 380), 70, 70)
    for colour, peaks, base in (
        ("#3b3162", [(0, 420), (180, 300), (340, 400), (520, 270), (760, 420), (960, 330)], 600),
        ("#241d40", [(0, 500), (220, 400), (420, 490), (640, 380), (960, 500)], 600),
    ):
        path = QPainterPath(QPointF(0, base))
        for x, y in peaks:
            path.lineTo(x, y)
        path.lineTo(w, base)
        path.closeSubpath()
        p.setBrush(QColor(colour))
        p.drawPath(path)
    p.setBrush(QColor(255, 255, 255, 200))
    for x, y in ((120, 80), (300, 140), (520, 60), (820, 110), (880, 40), (60, 200)):
        p.drawEllipse(QPointF(x, y), 2.2, 2.2)
    p.end()
    return _encode(image, "JPEG")


# ----------------------------------------------------------------------------- demo users
class Headless:
    """A scripted user: a plain python-socketio client speaking the protocol."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)

    async def connect(self, url: str) -> None:
        await self.sio.connect(
            url,
            auth={"username": self.name, "password": PASSWORD},
            transports=["websocket"],
            wait_timeout=10,
        )

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack = await self.sio.call(event, data, timeout=15)
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise RuntimeError(f"{self.name} {event}: {ack!r}")
        return ack

    async def say(self, room: str, text: str = "", image: tuple[str, bytes] | None = None) -> int:
        payload: dict[str, Any] = {"room": room, "client_id": f"{self.name}-{time.monotonic_ns()}"}
        if text:
            payload["text"] = text
        if image is not None:
            payload["image"] = {"name": image[0], "data": image[1]}
        ack = await self.call("message:send", payload)
        return int(ack["message"]["id"])

    async def receipt(self, room: str, msg_id: int, state: str) -> None:
        await self.call("message:receipt", {"room": room, "id": msg_id, "state": state})


async def seed(url: str) -> tuple[Headless, Headless]:
    """Rooms, DMs and a conversation with every delivery state alice's ticks can show."""
    alice, bob, carol = Headless("alice"), Headless("bob"), Headless("carol")
    for user in (alice, bob, carol):
        await user.connect(url)

    await alice.call("room:create", {"name": "design", "topic": "Mock-ups, colours and icons"})
    await alice.call("room:create", {"name": "release", "topic": "0.2 checklist", "private": True})
    await alice.call("room:invite", {"room": "release", "user": "bob"})
    await bob.call("room:create", {"name": "random", "topic": "Anything goes"})
    for user, room in ((bob, "design"), (carol, "design"), (alice, "random"), (carol, "random")):
        await user.call("room:join", {"room": room})

    # Conversations alice has not read yet give the sidebar its unread badges.
    await carol.say("general", "Standup moves to 10:30 today.")
    await bob.say("general", "Works for me.")
    await bob.say("release", "Changelog draft is up, please have a look.")
    await bob.say("random", "Anyone up for lunch at the Thai place?")
    await bob.call("dm:open", {"user": "alice"})
    await bob.say("dm:alice:bob", "Got a minute after lunch? Want to show you onboarding.")
    await carol.call("dm:open", {"user": "alice"})
    thanks = await carol.say("dm:alice:carol", "Thanks for the review!")
    await alice.receipt("dm:alice:carol", thanks, "read")
    await alice.say("dm:alice:carol", "Any time.")

    # The room on screen: text, two images, and alice's ticks at read / delivered / sent.
    await bob.say("design", "Morning! First pass at the new room sidebar:")
    await bob.say("design", "", ("sidebar-v2.png", sidebar_mockup()))
    await carol.say("design", "Love the spacing. Could unread rooms be bold as well as badged?")
    await alice.say("design", "Good call, doing that now.")
    await alice.say("design", "Same accent on a dark wallpaper", ("dusk.jpg", dark_theme_shot()))
    seen = await carol.say("design", "That blue reads well on dark too. Ship it!")
    for user in (bob, carol):
        await user.receipt("design", seen, "read")
    latest = await alice.say("design", "Merging once CI is green.")
    await bob.receipt("design", latest, "delivered")
    await alice.say("design", "Release notes next.")
    await alice.sio.disconnect()
    return bob, carol


# ----------------------------------------------------------------------------- capture
async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def capture(shots: list[tuple[Path, QSize, str]], data_dir: Path,
                  files_dir: Path | None = None) -> None:
    """Seed the demo once, then grab the window for each (path, size, theme); with
    ``files_dir``, then the room of shared files too (scripts/screenshot_files.py)."""
    server = EmbeddedServer(data_dir / "server")
    url = await server.start()
    bob, carol = await seed(url)
    await seed_features(url, bob, carol)

    settings = AppSettings(data_dir / "app")
    settings.last_room = SHOWN_ROOM
    client = ChatClient(data_dir / "app")
    decoder = ImageDecoder()
    thumbs_ready: set[str] = set()
    decoder.ready.connect(thumbs_ready.add)
    window = MainWindow(client, settings, decoder)
    window.resize(shots[0][1])
    window.show()
    try:
        if not await client.connect_to(url, {"username": "alice", "password": PASSWORD}):
            raise RuntimeError("alice could not sign in to the embedded server")
        await wait_for(lambda: client.rooms.get(SHOWN_ROOM) is not None, "the design room")
        # a half-written reply elsewhere (the sidebar shows "Draft: …") and a muted room
        await wait_for(lambda: client.rooms.get("release") is not None, "the release room")
        window.show_room("release")
        window.composer.setPlainText("Looks good, one question about the")
        window.set_room_muted("random", True)
        window.show_room(SHOWN_ROOM)
        window.set_members_visible(True)
        model = client.message_model(SHOWN_ROOM)
        await wait_for(lambda: model.rowCount() >= 10, "the design room's history")
        await wait_for(lambda: len(thumbs_ready) >= 2, "both image thumbnails")
        await bob.sio.emit("typing", {"room": SHOWN_ROOM, "typing": True})
        await wait_for(lambda: "typing" in window_text(window), "bob is typing")
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        for out, size, choice in shots:
            theme.apply_theme(app, choice)
            window.resize(size)
            await bob.sio.emit("typing", {"room": SHOWN_ROOM, "typing": True})  # keep it fresh
            window.timeline.scroll_to_latest()
            await asyncio.sleep(0.4)  # let the relayout and repaint land; nothing to wait on
            window.timeline.scroll_to_latest()
            await asyncio.sleep(0.2)
            save_small_png(window.grab(), out)
        if len(shots) > 1:  # --all
            await capture_features(window, client, app)
        if files_dir is not None:
            from scripts.screenshot_files import capture_files, seed_files

            await seed_files(url, {"bob": bob, "carol": carol}, PASSWORD)
            await capture_files(window, client, files_dir, save_small_png)
    finally:
        await client.disconnect()
        for user in (bob, carol):
            await user.sio.disconnect()
        window.close()
        # Stop only once the server has seen every client go: closing a websocket whose
        # peer just left can otherwise wait forever in engine.io's send queue.
        await wait_for_no_connections(url)
        await server.stop()


# ----------------------------------------------------------------------------- v2 features
FEATURE_ROOM = "planning"


async def seed_features(url: str, bob: Headless, carol: Headless) -> None:
    """A reply thread with reactions in #planning (protocol v2 sections 11 and 13)."""
    alice = Headless("alice")
    await alice.connect(url)
    await carol.call("room:create", {"name": FEATURE_ROOM, "topic": "What ships when"})
    for user in (alice, bob):
        await user.call("room:join", {"room": FEATURE_ROOM})

    async def say(user: Headless, text: str, reply_to: int | None = None) -> int:
        payload: dict[str, Any] = {"room": FEATURE_ROOM, "text": text,
                                   "client_id": f"{user.name}-{time.monotonic_ns()}"}
        if reply_to is not None:
            payload["reply_to"] = reply_to
        return int((await user.call("message:send", payload))["message"]["id"])

    async def react(user: Headless, message_id: int, emoji: str) -> None:
        await user.call("reaction:set", {"room": FEATURE_ROOM, "id": message_id,
                                         "emoji": emoji, "on": True})

    question = await say(carol, "Do we cut the release on Friday, or wait for search?")
    answer = await say(bob, "Friday. Search is nearly done; it can follow in a point release.",
                       question)
    await say(carol, "Then the release notes need a line about the new sidebar.")
    agreed = await say(alice, "Agreed, I'll write the **release notes** tonight.", answer)
    thanks = await say(carol, "Thanks! I'll do the `CHANGELOG` then.", agreed)
    for user, message_id, emoji in ((alice, answer, "👍"), (carol, answer, "👍"),
                                    (carol, answer, "🎉"), (bob, agreed, "❤️"),
                                    (alice, thanks, "😂"), (bob, thanks, "👍")):
        await react(user, message_id, emoji)
    await alice.sio.disconnect()


async def capture_features(window: MainWindow, client: ChatClient, app: QApplication) -> None:
    """feature-*.png: the reply thread, its reactions, and search results (wide and a
    narrow dark window)."""
    out_dir = REPO_ROOT / "docs" / "screenshots"
    await wait_for(lambda: client.rooms.get(FEATURE_ROOM) is not None, "the planning room")
    theme.apply_theme(app, "light")
    window.resize(QSize(1000, 700))
    window.show_room(FEATURE_ROOM)
    model = client.message_model(FEATURE_ROOM)
    await wait_for(lambda: model.rowCount() >= 6, "the planning room's history")
    await asyncio.sleep(0.4)  # relayout and repaint; nothing to wait on
    window.timeline.scroll_to_latest()
    await asyncio.sleep(0.2)
    save_small_png(window.grab(), out_dir / "feature-reply-thread.png")

    theme.apply_theme(app, "dark")
    await asyncio.sleep(0.4)
    window.timeline.scroll_to_latest()
    await asyncio.sleep(0.2)
    save_small_png(window.timeline.grab(), out_dir / "feature-reactions-dark.png")

    for size, choice, name in ((QSize(1000, 700), "light", "feature-search.png"),
                               (QSize(700, 700), "dark", "feature-search-700-dark.png")):
        theme.apply_theme(app, choice)
        window.resize(size)
        panel = window.open_search(True)
        panel.field.setText("release")
        panel.restart()
        await wait_for(lambda: _search_done(window), "search results")
        await asyncio.sleep(0.4)
        save_small_png(window.grab(), out_dir / name)
        panel.close_panel()


def _search_done(window: MainWindow) -> bool:
    panel = window.search.panel
    return panel.results.state == "results" and not panel._tasks


async def wait_for_no_connections(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{url}/healthz") as response:
                if (await response.json()).get("connections") == 0:
                    return
            await asyncio.sleep(0.05)
    logger.warning("clients still connected after %.0f s; stopping anyway", timeout)


def window_text(window: MainWindow) -> str:
    from PySide6.QtWidgets import QLabel

    return " ".join(label.text() for label in window.findChildren(QLabel) if label.isVisible())


def save_small_png(pixmap: QPixmap, out: Path) -> None:
    """Write ``pixmap`` as a 256-colour PNG (a screenshot that lives in git)."""
    from PIL import Image

    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub wants bytes
    buffer.close()
    image = Image.open(io.BytesIO(bytes(array.data()))).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out.parent.mkdir(parents=True, exist_ok=True)
    small.save(out, "PNG", optimize=True)
    print(f"wrote {out} ({pixmap.width()}x{pixmap.height()}, {out.stat().st_size // 1024} KB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    parser.add_argument("--dark", action="store_true", help="render with a dark palette")
    parser.add_argument(
        "--all", action="store_true", help="the README shot and docs/screenshots/ (3 widths x 2)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    # The app's own start-up (name, icon, Qt message routing, qasync loop), as `parley` does.
    app = ensure_application()
    app.setFont(QFont("DejaVu Sans", 10))
    if args.all:
        shots = [(REPO_ROOT / "docs" / "screenshot.png", WINDOW_SIZE, "light")]
        for choice in ("light", "dark"):
            for width in GALLERY_WIDTHS:
                out = REPO_ROOT / "docs" / "screenshots" / f"parley-{width}-{choice}.png"
                shots.append((out, QSize(width, GALLERY_HEIGHT), choice))
    else:
        shots = [(args.out.resolve(), WINDOW_SIZE, "dark" if args.dark else "light")]
    with tempfile.TemporaryDirectory(prefix="parley-screenshot-") as tmp:
        files_dir = REPO_ROOT / "docs" / "screenshots" if args.all else None
        run_on_qasync(app, capture(shots, Path(tmp), files_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
