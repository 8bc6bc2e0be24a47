"""Connection state, always visible: a small label (objectName ``connectionStatus``) and a
banner for when the server refuses the session.

``ConnectionStatus.set_state(state, retry_in_s)`` takes ChatClient's
``connectionStateChanged`` values and counts the retry delay down once a second.
``RefusedBanner`` signals ``signInRequested()``.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.ui import theme

logger = logging.getLogger(__name__)

_COLOURS = {
    "connected": theme.ONLINE.name(),
    "connecting": "#d79b00",
    "reconnecting": "#d79b00",
    "offline": "#9a9a9a",
    "refused": theme.DANGER.name(),
}


class ConnectionStatus(QLabel):
    """ "● Connected", "● Reconnecting in 4 s…", "● Offline"; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionStatus")
        self.setAccessibleName("connectionStatus")
        self.setTextFormat(Qt.TextFormat.RichText)  # only our own fixed strings, no user text
        self.state = "offline"
        self._deadline = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._render)
        self.set_state("offline", 0)

    def set_state(self, state: str, retry_in_s: int = 0) -> None:
        self.state = state
        self._deadline = time.monotonic() + retry_in_s if retry_in_s > 0 else 0.0
        if state == "reconnecting" and retry_in_s > 0:
            self._timer.start()
        else:
            self._timer.stop()
        self._render()

    def plain_text(self) -> str:
        """What the label says, without the coloured dot."""
        state = self.state
        if state == "connected":
            return "Connected"
        if state == "connecting":
            return "Connecting…"
        if state == "reconnecting":
            left = max(0, round(self._deadline - time.monotonic())) if self._deadline else 0
            return f"Reconnecting in {left} s…" if left > 0 else "Reconnecting…"
        if state == "refused":
            return "Signed out"
        return "Offline"

    def _render(self) -> None:
        colour = _COLOURS.get(self.state, "#9a9a9a")
        self.setText(f'<span style="color:{colour}">●</span>&nbsp;{self.plain_text()}')
        self.setToolTip(self.plain_text())
        if self.state == "reconnecting" and self._deadline and time.monotonic() >= self._deadline:
            self._timer.stop()


class RefusedBanner(QFrame):
    """A red bar across the top: why the session was refused, and a way to sign in."""

    signInRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionBanner")
        self.setStyleSheet(
            f"QFrame#sessionBanner {{ background: {theme.DANGER.name()}; }}"
            " QFrame#sessionBanner QLabel { color: white; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 10, 8)
        self.label = QLabel(self)
        self.label.setObjectName("sessionBannerText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self.button = QPushButton("Sign in…", self)
        self.button.clicked.connect(self.signInRequested)
        layout.addWidget(self.button)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()
