"""Helpers and fixtures for the UI tests (imported by ``test_ui_*.py``).

``make_window(client)`` builds a real MainWindow over a signed-in ChatClient, shown at
the default size on the offscreen platform. ``drop_on(widget, mime)`` sends the real
QDragEnterEvent/QDragMoveEvent/QDropEvent sequence a drag from a file manager or a
browser produces. ``send_as(run, peer, text, room, **extra)`` sends a message as a
protocol peer and returns the stored Message dict.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from desktop.models.message_list import MessageListModel, MessageRoles
from desktop.net.client import ChatClient
from desktop.settings import AppSettings
from desktop.state.types import Message
from desktop.ui.main_window import MainWindow


def send_as(run: Any, peer: Any, text: str, room: str = "general", **extra: Any) -> dict:
    """Send ``text`` as ``peer`` (a protocol test client); the acked Message."""
    ack = run(peer.call("message:send", {"room": room, "text": text,
                                         "client_id": str(uuid.uuid4()), **extra}))
    assert ack["ok"], ack
    return dict(ack["message"])


def png_bytes(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (40, 120, 220)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def messages(model: MessageListModel) -> list[Message]:
    return [model.index(r, 0).data(MessageRoles.ItemRole) for r in range(model.rowCount())]


def find(model: MessageListModel, predicate: Callable[[Message], bool]) -> Message | None:
    for msg in messages(model):
        if predicate(msg):
            return msg
    return None


def row_of(model: MessageListModel, predicate: Callable[[Message], bool]) -> int:
    for row, msg in enumerate(messages(model)):
        if predicate(msg):
            return row
    return -1


def drop_on(widget: QWidget, mime: QMimeData) -> bool:
    """Drag ``mime`` over ``widget`` and drop it; True if the drop was accepted."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    actions = Qt.DropAction.CopyAction
    # The enter/move constructors take a QPoint in the Python binding, the drop a QPointF.
    enter = QDragEnterEvent(
        pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    move = QDragMoveEvent(
        pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, move)
    drop = QDropEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path) -> Iterator[Callable[..., MainWindow]]:
    """``make_window(client)``: a shown MainWindow (closed at teardown)."""
    windows: list[MainWindow] = []

    def factory(client: ChatClient, name: str = "main") -> MainWindow:
        settings = AppSettings(tmp_path / f"ui-{name}-{len(windows)}")
        window = MainWindow(client, settings)
        window.resize(1200, 760)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield factory
    for window in windows:
        window.close()  # cancels what the window started; let the cancellations land
        qtbot.waitUntil(lambda w=window: not w.busy, timeout=5000)
        window.deleteLater()
