"""Desktop notifications for messages from others while the window is not in front.

Uses the system tray when the platform has one (and flashes the taskbar entry either way).
The decision of *whether* to notify lives in the main window; this only delivers.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from desktop.ui import icons

logger = logging.getLogger(__name__)

BODY_CHARS = 160


class Notifier(QObject):
    """``notify(title, body)``; ``history`` keeps what was shown (the tests read it)."""

    def __init__(self, window: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._window = window
        self.history: list[tuple[str, str]] = []
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(icons.icon("parley"), self)
            self._tray.setToolTip("Parley")
            self._tray.activated.connect(self.on_tray_activated)
            self._tray.show()

    def notify(self, title: str, body: str) -> None:
        if len(body) > BODY_CHARS:
            body = body[: BODY_CHARS - 1] + "…"
        self.history.append((title, body))
        del self.history[:-50]
        if self._tray is not None and self._tray.supportsMessages():
            self._tray.showMessage(title, body, icons.icon("parley"), 6000)
        QApplication.alert(self._window, 0)

    def on_tray_activated(self, _reason: QSystemTrayIcon.ActivationReason) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()

    def hide(self) -> None:
        if self._tray is not None:
            self._tray.hide()
