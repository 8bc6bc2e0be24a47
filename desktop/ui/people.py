"""A person's profile popover: avatar, name, online or not, and "Message" (opens the DM).

Opened from the members panel (click, or Enter on the focused row). It is a popup: Escape
or a click elsewhere closes it. Signals: ``messageRequested(str username)``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.ui import icons, theme
from desktop.ui.elided_label import ElidedLabel

logger = logging.getLogger(__name__)

AVATAR = 48


class _Avatar(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self.setFixedSize(QSize(AVATAR, AVATAR))

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        """Overrides QWidget.paintEvent."""
        p = QPainter(self)
        icons.paint_avatar(p, QRectF(0, 0, AVATAR, AVATAR), self._name, self.palette())


class ProfilePopover(QFrame):
    """See the module docstring."""

    messageRequested = Signal(str)

    def __init__(
        self, name: str, online: bool, is_self: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("profilePopover")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Profile of {name}")
        self.name = name
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 12)
        layout.setSpacing(10)
        row = QHBoxLayout()
        row.setSpacing(12)
        row.addWidget(_Avatar(name, self))
        col = QVBoxLayout()
        col.setSpacing(2)
        self.name_label = ElidedLabel(name, self)
        self.name_label.setObjectName("profileName")
        font = self.name_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name_label.setFont(font)
        col.addWidget(self.name_label)
        self.status_label = QLabel("Online" if online else "Offline", self)
        self.status_label.setObjectName("profileStatus")
        colour = theme.ONLINE if online else theme.muted(self.palette())
        self.status_label.setStyleSheet(f"color: {colour.name()};")
        col.addWidget(self.status_label)
        row.addLayout(col, 1)
        layout.addLayout(row)
        self.message_button = QPushButton("Message", self)
        self.message_button.setObjectName("profileMessage")
        self.message_button.setAccessibleName(f"Send {name} a message")
        self.message_button.setIcon(icons.icon("dm"))
        self.message_button.setDefault(True)
        self.message_button.clicked.connect(self.on_message_button_clicked)
        self.message_button.setVisible(not is_self)
        if is_self:
            you = QLabel("This is you.", self)
            you.setStyleSheet(f"color: {theme.muted(self.palette()).name()};")
            layout.addWidget(you)
        layout.addWidget(self.message_button)
        self.setFixedWidth(240)

    def popup_at(self, pos: QPoint) -> None:
        """Show with the top-right corner near ``pos`` (global), kept on the screen."""
        self.adjustSize()
        screen = self.screen().availableGeometry() if self.screen() else None
        x, y = pos.x() - self.width(), pos.y()
        if screen is not None:
            x = max(screen.left(), min(x, screen.right() - self.width()))
            y = max(screen.top(), min(y, screen.bottom() - self.height()))
        self.move(x, y)
        self.show()
        self.message_button.setFocus()

    def on_message_button_clicked(self) -> None:
        self.messageRequested.emit(self.name)
        self.close()
