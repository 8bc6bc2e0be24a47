"""The file bubbles for ``scripts/screenshot.py --all``: a room of shared files.

Bob and carol upload real files over ``POST /api/media`` and send them as ``file``
messages (a PDF, an archive, a recording, a log, a video and an unknown binary), then
alice's real window opens the room and starts downloading the video; each picture is
grabbed while that download runs (its card shows the progress bar), at 700 and 1000 px,
light and dark, into ``docs/screenshots/parley-files-<width>-<theme>.png``.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from PySide6.QtCore import QSize
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication

from desktop.state.transfers import download_key
from desktop.ui import theme

FILES_ROOM = "handoff"
SIZES = (700, 1000)
VIDEO_BYTES = 48 * 1024 * 1024


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("icons/parley.svg", os.urandom(300_000))
        archive.writestr("icons/README.txt", "Exported from the design file.\n")
    return buf.getvalue()


def demo_files() -> list[tuple[str, str, bytes, str]]:
    """(sender, name, bytes, caption) in the order they are posted."""
    return [
        ("bob", "Q3 planning – final.pdf", b"%PDF-1.7\n" + os.urandom(2_400_000), ""),
        ("carol", "icon-set-v2.zip", _zip(), "All sizes, SVG and PNG"),
        ("carol", "standup notes.m4a",
         b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + os.urandom(3_100_000), ""),
        ("bob", "build-4512.log", ("ok  test_" + "x" * 60 + "\n").encode() * 2000, ""),
        ("bob", "onboarding walkthrough with the new sidebar and the dark theme.mp4",
         b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(VIDEO_BYTES),
         "Screen recording of the first run"),
        ("carol", "firmware.bin", os.urandom(700_000), ""),
    ]


async def _token(http: aiohttp.ClientSession, url: str, name: str, password: str) -> str:
    async with http.post(f"{url}/api/login",
                         json={"username": name, "password": password}) as resp:
        return str((await resp.json())["token"])


async def seed_files(url: str, users: dict[str, Any], password: str) -> None:
    """Create the files room and post the demo files as their senders (real uploads)."""
    await users["bob"].call("room:create", {"name": FILES_ROOM, "private": True,
                                            "topic": "Files for the 0.3 release"})
    for name in ("carol", "alice"):
        await users["bob"].call("room:invite", {"room": FILES_ROOM, "user": name})
    async with aiohttp.ClientSession() as http:
        tokens = {name: await _token(http, url, name, password) for name in ("bob", "carol")}
        await users["bob"].say(FILES_ROOM, "Everything for the release review is in here.")
        for sender, name, data, caption in demo_files():
            async with http.post(f"{url}/api/media", params={"name": name}, data=data,
                                 headers={"Authorization": f"Bearer {tokens[sender]}"}) as resp:
                upload = (await resp.json())["upload"]
            payload = {"room": FILES_ROOM, "client_id": str(uuid.uuid4()),
                       "file": {"upload": upload["id"]}}
            if caption:
                payload["text"] = caption
            await users[sender].call("message:send", payload)


async def capture_files(window: Any, client: Any, out_dir: Path,
                        save: Callable[[QPixmap, Path], None]) -> None:
    """Grab the files room at each size and theme while a download runs."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    model = client.message_model(FILES_ROOM)
    deadline = asyncio.get_running_loop().time() + 20
    while client.rooms.get(FILES_ROOM) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the files room")
        await asyncio.sleep(0.05)
    window.show_room(FILES_ROOM)
    while not any(getattr(m, "file", None) is not None and m.file.size >= VIDEO_BYTES
                  for m in (model.message_at(r) for r in range(model.rowCount()))):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the files room's messages")
        await asyncio.sleep(0.05)
    video = next(m for m in (model.message_at(r) for r in range(model.rowCount()))
                 if m.file is not None and m.file.size >= VIDEO_BYTES)
    client.save_dir = out_dir.parent / ".screenshot-downloads-unused"
    for choice in ("light", "dark"):
        for width in SIZES:
            theme.apply_theme(app, choice)
            window.resize(QSize(width, 860))
            window.timeline.scroll_to_latest()
            await asyncio.sleep(0.4)  # the relayout and repaint land; nothing to wait on
            window.timeline.scroll_to_latest()
            await asyncio.sleep(0.2)
            shot = await _grab_mid_download(window, client, video.file)
            save(shot, out_dir / f"parley-files-{width}-{choice}.png")


async def _grab_mid_download(window: Any, client: Any, info: Any) -> QPixmap:
    """Start the video's download from zero and grab the window once a third is in."""
    key = download_key(info.id)
    client.part_path(info.id).unlink(missing_ok=True)
    got: asyncio.Future[QPixmap] = asyncio.get_running_loop().create_future()

    def on_change(changed: str) -> None:
        item = client.transfers.get(changed)
        if changed == key and item is not None and item.done > item.total * 0.37 \
                and not got.done():
            window.timeline.viewport().repaint()
            got.set_result(window.grab())
            client.cancel_download(info.id)

    unsubscribe = client.transfers.subscribe(on_change)
    try:
        client.download_file(info)
        return await asyncio.wait_for(got, 60)
    finally:
        unsubscribe()
