"""Widgets floating over the timeline: "N new messages ↓" and the sticky date pill.

They are children of the view itself, never of its viewport: a list view scrolls by
``QWidget::scroll`` on the viewport, which moves every child of the viewport along with
the pixels (and a child scrolled out never comes back). Over the view, they stay where
they are placed: the jump button at the bottom right of the visible area, the date pill
at its top centre. Both are re-placed whenever the viewport's geometry changes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QAbstractScrollArea, QToolButton, QWidget

from desktop.ui import theme

logger = logging.getLogger(__name__)

PILL_HIDE_MS = 1200


class DatePill(QWidget):
    """A rounded, translucent dark label: readable over bubbles and background alike, in
    light and dark themes (painted here: a style sheet's radius is not reliable over a
    translucent background)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("datePill")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._text = ""
        font = self.font()
        font.setBold(True)
        self.setFont(font)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802  (QLabel's name, for callers)
        self._text = text
        self.setAccessibleName(text)
        self.resize(self.sizeHint())
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        """Overrides QWidget.sizeHint: the text plus padding."""
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance(self._text) + 24, fm.height() + 8)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        """Overrides QWidget.paintEvent: the pill and its text."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        dark = theme.is_dark(self.palette())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(30, 33, 38, 190 if dark else 140))
        rect = QRectF(self.rect())
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        painter.setPen(QColor("white"))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._text)
        painter.end()


class TimelineOverlays(QObject):
    """The jump button and the date pill of one timeline view."""

    def __init__(self, view: QAbstractScrollArea) -> None:
        super().__init__(view)
        self._view = view
        self.jump_button = QToolButton(view)
        self.jump_button.setObjectName("jumpToLatest")
        self.jump_button.setAccessibleName("Jump to latest")
        self.jump_button.setToolTip("Jump to the newest message (Ctrl+End)")
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.jump_button.setStyleSheet(
            "QToolButton { background: #3d7be0; color: white; border: none;"
            " border-radius: 14px; padding: 0px 14px; font-weight: 600; }"
        )
        self.jump_button.setFixedHeight(28)
        self.jump_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.jump_button.hide()

        self.date_pill = DatePill(view)
        self.date_pill.hide()
        self._pill_timer = QTimer(self)
        self._pill_timer.setSingleShot(True)
        self._pill_timer.setInterval(PILL_HIDE_MS)
        self._pill_timer.timeout.connect(self.date_pill.hide)
        self.apply_palette()

    def apply_palette(self) -> None:
        """Follow a theme change (the pill reads the palette when it paints)."""
        self.date_pill.update()

    def _area(self) -> QRect:
        """The viewport's rectangle in the view's coordinates."""
        return self._view.viewport().geometry()

    # ----- jump button
    def show_jump(self, new_below: int) -> None:
        label = "Jump to latest ↓"
        if new_below:
            label = f"{new_below} new message{'s' if new_below != 1 else ''} ↓"
        self.jump_button.setText(label)
        self.jump_button.setAccessibleName(label.rstrip(" ↓"))
        self.jump_button.adjustSize()
        self.place()
        self.jump_button.show()
        self.jump_button.raise_()

    def hide_jump(self) -> None:
        self.jump_button.hide()

    # ----- date pill
    def show_date(self, label: str) -> None:
        """Show ``label`` at the top for a moment (called while the user scrolls)."""
        if not label:
            self.date_pill.hide()
            return
        if label != self.date_pill.text():
            self.date_pill.setText(label)
        self.place()
        self.date_pill.show()
        self.date_pill.raise_()
        self._pill_timer.start()

    def place(self) -> None:
        area = self._area()
        size = self.jump_button.sizeHint()
        self.jump_button.move(
            area.right() - size.width() - 20, area.bottom() - size.height() - 14
        )
        pill = self.date_pill.sizeHint()
        self.date_pill.resize(pill)
        self.date_pill.move(area.center().x() - pill.width() // 2, area.top() + 8)
