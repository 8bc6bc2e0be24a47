"""EmptyState: what the conversation area shows when there is no conversation to show.

Every state of the window must offer a way forward: signed out or never signed in
("Start chatting here", "Sign in to a server…"), connecting, or signed in with no rooms
("Browse rooms…", "Create a room…", "New message…"). The window picks the state and wires
the buttons' ``actionTriggered(str key)`` signal.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.ui import icons, theme

logger = logging.getLogger(__name__)


class EmptyState(QWidget):
    """A centred icon, title, sentence and action buttons. Signals: ``actionTriggered(str)``."""

    actionTriggered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(2)
        self.logo = QLabel(self)
        self.logo.setPixmap(icons.icon("parley").pixmap(QSize(72, 72)))
        self.logo.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        outer.addWidget(self.logo)
        self.title = QLabel(self)
        self.title.setObjectName("emptyTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.title.setFont(font)
        outer.addWidget(self.title)
        self.text = QLabel(self)
        self.text.setObjectName("emptyText")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.text.setWordWrap(True)
        outer.addWidget(self.text)
        self.button_row = QHBoxLayout()
        self.button_row.setSpacing(10)
        self.button_row.addStretch(1)
        self.button_row.addStretch(1)
        outer.addSpacing(8)
        outer.addLayout(self.button_row)
        outer.addStretch(3)
        self.buttons: dict[str, QPushButton] = {}
        self.state = ""

    def set_state(self, state: str, title: str, text: str, actions: list[tuple[str, str]]) -> None:
        """Show ``title``/``text`` with one button per (key, label); the first is the default."""
        self.state = state
        self.title.setText(title)
        self.text.setText(text)
        for button in self.buttons.values():
            self.button_row.removeWidget(button)
            button.hide()
            button.deleteLater()
        self.buttons = {}
        for n, (key, label) in enumerate(actions):
            button = QPushButton(label, self)
            button.setObjectName(f"empty_{key}")
            button.setAccessibleName(label.rstrip("…"))
            button.setAutoDefault(True)
            if n == 0:
                button.setDefault(True)
            button.clicked.connect(lambda _checked=False, k=key: self.actionTriggered.emit(k))
            self.button_row.insertWidget(self.button_row.count() - 1, button)
            self.buttons[key] = button
        muted = theme.muted(self.palette()).name()
        self.text.setStyleSheet(f"color: {muted};")
