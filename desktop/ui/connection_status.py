"""Connection state, always visible: a small label (objectName ``connectionStatus``), a
banner for when the server refuses the session, and one while the connection is down.

``ConnectionStatus.set_state(state, retry_in_s)`` takes ChatClient's
``connectionStateChanged`` values and counts the retry delay down once a second.
``RefusedBanner`` signals ``signInRequested()``. ``ReconnectBanner(client)`` follows the
client itself and offers "Reconnect now".
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.ui import theme

if TYPE_CHECKING:
    from desktop.net.client import ChatClient

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


class ReconnectBanner(QFrame):
    """An amber bar over the conversation while the connection is down: "Connection lost.
    Reconnecting in N s" with a "Reconnect now" button (objectName ``reconnectBanner``).

    It follows ``ChatClient.connectionStateChanged`` by itself and shows only once a
    session had been up (or a remembered server could not be reached); the button calls
    ``ChatClient.reconnect_now``. Signal: ``reconnectRequested()``.
    """

    reconnectRequested = Signal()

    def __init__(self, client: ChatClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reconnectBanner")
        self.setStyleSheet(
            "QFrame#reconnectBanner { background: #d79b00; }"
            " QFrame#reconnectBanner QLabel { color: black; }"
        )
        self._client = client
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 6, 10, 6)
        self.label = QLabel(self)
        self.label.setObjectName("reconnectBannerText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label, 1)
        self.button = QPushButton("Reconnect now", self)
        self.button.setObjectName("reconnectNow")
        self.button.clicked.connect(self.on_button_clicked)
        layout.addWidget(self.button)
        self.state = "offline"
        self._deadline = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._render)
        client.connectionStateChanged.connect(self.on_client_connection_state_changed)
        self.hide()

    def on_client_connection_state_changed(self, state: str, retry_in_s: int) -> None:
        self.state = state
        if state == "reconnecting":
            self._deadline = time.monotonic() + retry_in_s if retry_in_s > 0 else 0.0
            self._timer.start()
            self.show()
        elif state == "connecting" and self.isVisible():
            self._deadline = 0.0  # trying now: keep the bar, without a countdown
        else:
            self._timer.stop()
            self.hide()
        self._render()

    def on_button_clicked(self) -> None:
        self.reconnectRequested.emit()
        self._client.reconnect_now()

    def text(self) -> str:
        """What the bar says (the tests and the screen reader read it)."""
        if self.state == "connecting":
            return "Connection lost. Reconnecting…"
        left = max(0, round(self._deadline - time.monotonic())) if self._deadline else 0
        if left > 0:
            return f"Connection lost. Reconnecting in {left} s"
        return "Connection lost. Reconnecting…"

    def _render(self) -> None:
        self.label.setText(self.text())
        self.button.setEnabled(self.state == "reconnecting")
