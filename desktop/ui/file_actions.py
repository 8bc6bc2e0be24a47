"""Files in the window: sending attachments, and the file card's actions.

:class:`FileActions` adds to the timeline without owning it:

- the delegate paints each file card from :meth:`FileActions.view_for` (the client's
  transfers and finished downloads), and a click on an action comes back through the
  delegate's ``fileActionRequested``;
- the message's context menu (mouse, the Menu key, Shift+F10) offers the same actions,
  so each is reachable from the keyboard, and Enter on a focused file message does the
  card's first action (Download, or Open once saved);
- progress repaints the timeline at most every ``REPAINT_MS`` (a 100 MB download ticks
  hundreds of times), never re-lays it out: the card's height does not change;
- Open downloads first when needed and opens once saved; Show in folder opens the
  folder that holds the saved file.

:func:`send_attachment` sends one composer attachment the right way: a small image over
the socket as ``image``, anything else (a big image too) uploaded as a file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QMenu

from desktop.net.client import ChatClient
from desktop.net.files import FileRefused
from desktop.state.transfers import download_key, upload_key
from desktop.state.types import Message
from desktop.ui.attachments import Attachment, via_upload
from desktop.ui.file_bubble import ACTION_LABELS, FileView, describe

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

REPAINT_MS = 80
_MENU_WORDS = {
    "download": "Download file",
    "open": "Open file",
    "folder": "Show in folder",
    "resume": "Resume download",
    "retry": "Retry upload",
}


def send_attachment(client: ChatClient, room: str, attachment: Attachment, caption: str,
                    max_image_bytes: int) -> str | None:
    """Send one attachment; the sentence to show if it is refused, else None."""
    if not via_upload(attachment, max_image_bytes) or not client.limits.get("max_file_bytes"):
        client.send_image(room, attachment.data, attachment.name, caption)
        return None
    try:
        if attachment.path is not None:
            client.send_file(room, attachment.path, caption, name=attachment.name,
                             mime=attachment.mime)
        else:
            client.send_file(room, None, caption, name=attachment.name, data=attachment.data,
                             mime=attachment.mime)
    except FileRefused as exc:
        return str(exc)
    return None


class FileActions(QObject):
    """File cards and their actions for one main window (see the module doc)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.client = window.client
        self.timeline = window.timeline
        self.delegate = self.timeline.delegate
        # how a file or folder is opened (tests replace it: nothing opens in CI)
        self.opener: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(REPAINT_MS)
        self._repaint.timeout.connect(self.on_repaint_timeout)
        self.delegate.file_state = self.view_for
        self._connect_signals()

    def _connect_signals(self) -> None:
        # --- the cards
        self.delegate.fileActionRequested.connect(self.run)
        self.timeline.menu_extenders.append(self.extend_menu)
        self.timeline.key_handlers.append(self.on_timeline_key)
        self.timeline.viewport().installEventFilter(self)
        # --- the client's transfers
        self.client.transferChanged.connect(self.on_client_transfer_changed)
        self.client.fileSaved.connect(self.on_client_file_saved)

    # ------------------------------------------------------------------ state
    def view_for(self, msg: Message, own: bool) -> FileView:
        """What ``msg``'s card shows (the delegate's ``file_state``)."""
        transfers = self.client.transfers
        upload = transfers.get(upload_key(msg.client_id)) if msg.client_id else None
        file_id = msg.file.id if msg.file is not None else ""
        download = transfers.get(download_key(file_id)) if file_id else None
        saved = bool(file_id) and self.client.saved_path(file_id, check=False) is not None
        return describe(msg, upload, download, saved, own)

    def _own(self, msg: Message) -> bool:
        return self.client._is_own(msg)  # noqa: SLF001 - the one rule of ownership

    # ------------------------------------------------------------------ actions
    def run(self, msg: Message, action: str) -> None:
        """Do one of a card's actions (a click, the menu, Enter)."""
        info = msg.file
        if info is None:
            return
        if action in ("download", "resume"):
            self.client.download_file(info)
        elif action == "open":
            saved = self.client.saved_path(info.id) if info.id else None
            if saved is not None:
                self.opener(QUrl.fromLocalFile(str(saved)))
            else:
                self.client.download_file(info, then_open=True)
        elif action == "folder":
            saved = self.client.saved_path(info.id) if info.id else None
            if saved is not None:
                self.opener(QUrl.fromLocalFile(str(saved.parent)))
        elif action == "cancel":
            if msg.id is None and msg.client_id:
                self.client.cancel_upload(msg.client_id)
            elif info.id and not self.client.cancel_download(info.id):
                self.client.discard_download(info.id)  # a paused one: its part goes
        elif action == "retry" and msg.client_id:
            self.client.retry(msg.client_id)
        self.timeline.viewport().update()

    def extend_menu(self, menu: QMenu, msg: Message) -> None:
        """The timeline's context menu: the card's actions, in words."""
        if msg.file is None or msg.deleted:
            return
        view = self.view_for(msg, self._own(msg))
        if not view.actions:
            return
        menu.addSeparator()
        for action in view.actions:
            words = _MENU_WORDS.get(action, ACTION_LABELS[action])
            if action == "cancel":
                words = "Cancel upload" if msg.id is None else "Cancel download"
            item = QAction(words, menu)
            item.setObjectName(f"fileAction-{action}")
            item.triggered.connect(lambda _=False, a=action: self.run(msg, a))
            menu.addAction(item)

    def on_timeline_key(self, event: QKeyEvent, msg: Message) -> bool:
        """Enter on a focused file message does its card's first action."""
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter) or msg.file is None:
            return False
        if msg.deleted or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        view = self.view_for(msg, self._own(msg))
        if view.primary in ("", "cancel"):  # stopping a transfer takes the menu, not Enter
            return False
        self.run(msg, view.primary)
        return True

    # ------------------------------------------------------------------ events
    def on_client_transfer_changed(self, _key: str) -> None:
        if not self._repaint.isActive():
            self._repaint.start()

    def on_repaint_timeout(self) -> None:
        self.timeline.viewport().update()

    def on_client_file_saved(self, file_id: str, path: str) -> None:
        item = self.client.transfers.get(download_key(file_id))
        if item is not None and item.then_open:
            item.then_open = False
            self.opener(QUrl.fromLocalFile(path))
        self.timeline.viewport().update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Overrides QObject.eventFilter: underline the card action under the mouse."""
        if event.type() == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            self._hover(event.position().toPoint())
        elif event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            self.delegate.file_press = event.position().toPoint()  # a click, not a drag
        elif event.type() == QEvent.Type.Leave and self.delegate.hover_file_action:
            self.delegate.hover_file_action = None
            self.timeline.viewport().update()
        return False

    def _hover(self, pos: QPoint) -> None:
        _index, kind, value = self.timeline.hit(pos)
        hover = (value[0], value[1]) if kind == "file" and isinstance(value, tuple) else None
        old = self.delegate.hover_file_action
        if (old is None) != (hover is None) or (
                old is not None and hover is not None
                and (old[0] is not hover[0] or old[1] != hover[1])):
            self.delegate.hover_file_action = hover
            self.timeline.viewport().update()

