"""The self-test's file round trip (protocol v2 files), kept apart from ``selftest``.

Through the real UI path a generated non-image file (a few megabytes, so it streams in
several chunks) is attached like the file picker does and sent; the second client must
receive it as a ``file`` message of the same size, and the app then downloads it back
over HTTP and the saved bytes must be exactly the ones sent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop.net.client import ChatClient
    from desktop.selftest import Checks
    from desktop.ui.main_window import MainWindow

FILE_BYTES = 3 * 1024 * 1024 + 123


async def check_file_round_trip(checks: Checks, window: MainWindow, client: ChatClient,
                                received: list[dict[str, Any]], tmp: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from desktop.models.message_list import MessageRoles
    from desktop.selftest import wait_until
    from desktop.state.types import Message

    checks.step("sending a file through the attach path")
    if not client.limits.get("max_file_bytes"):
        checks.fail("the server announced no max_file_bytes (no files)")
        return
    source = tmp / "self-test report.pdf"
    source.write_bytes(b"%PDF-1.7\n" + os.urandom(FILE_BYTES - 9))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    added = window.composer_panel.add_files([source])
    checks.check(added == 1, "PDF attached (any file, not only images)")
    QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: any(m.get("kind") == "file" for m in received), 30,
                     "the peer receiving the file")
    got = next(m for m in received if m.get("kind") == "file")
    checks.check(int(got["file"]["size"]) == FILE_BYTES
                 and got["file"]["mime"] == "application/pdf",
                 "second client received the file (same size, sniffed as PDF)")

    checks.step("downloading the file back")
    model = client.message_model("general")

    def sent() -> Message | None:
        for row in range(model.rowCount()):
            msg = model.index(row, 0).data(MessageRoles.ItemRole)
            if isinstance(msg, Message) and msg.file is not None and msg.id is not None:
                return msg
        return None

    await wait_until(lambda: sent() is not None, 15, "the file message's ack")
    msg = sent()
    assert msg is not None and msg.file is not None
    client.save_dir = tmp / "downloads"
    client.download_file(msg.file)
    await wait_until(lambda: client.saved_path(msg.file.id) is not None,  # type: ignore[union-attr]
                     30, "the download to finish")
    saved = client.saved_path(msg.file.id)
    assert saved is not None
    checks.check(hashlib.sha256(saved.read_bytes()).hexdigest() == digest,
                 "downloaded bytes are exactly the ones sent")
