"""Widgets floating over the timeline: "N new messages ↓" and the sticky date pill.

They are children of the view itself, never of its viewport: a list view scrolls by
``QWidget::scroll`` on the viewport, which moves every child of the viewport along with
the pixels (and a child scrolled out never comes back). Over the view, they stay where
they are placed: the jump button at the bottom right of the visible area, the date pill
at its top centre. Both are re-placed whenever the viewport's geometry changes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRect, Qt, QTimer
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QToolButton

from desktop.ui import theme

logger = logging.getLogger(__name__)

PILL_HIDE_MS = 1200


class TimelineOverlays(QObject):
    """The jump button and the date pill of one timeline view."""

    def __init__(self, view: QAbstractScrollArea) -> None:
        super().__init__(view)
        self._view = view
        self.jump_button = QToolButton(view)
        self.jump_button.setObjectName("jumpToLatest")
        self.jump_button.setAccessibleName("Jump to latest")
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.jump_button.setStyleSheet(
            "QToolButton { background: #3d7be0; color: white; border: none;"
            " border-radius: 14px; padding: 0px 14px; font-weight: 600; }"
        )
        self.jump_button.setFixedHeight(28)
        self.jump_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.jump_button.hide()

        self.date_pill = QLabel(view)
        self.date_pill.setObjectName("datePill")
        self.date_pill.setTextFormat(Qt.TextFormat.PlainText)
        self.date_pill.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.date_pill.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.date_pill.hide()
        self._pill_timer = QTimer(self)
        self._pill_timer.setSingleShot(True)
        self._pill_timer.setInterval(PILL_HIDE_MS)
        self._pill_timer.timeout.connect(self.date_pill.hide)
        self.apply_palette()

    def apply_palette(self) -> None:
        """Colours from the view's palette (light or dark)."""
        palette = self._view.palette()
        base = theme.other_bubble(palette).name()
        ink = theme.muted(palette).name()
        border = theme.subtle_border(palette).name()
        self.date_pill.setStyleSheet(
            f"QLabel {{ background: {base}; color: {ink}; border: 1px solid {border};"
            " border-radius: 11px; padding: 2px 12px; }"
        )

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
            self.date_pill.adjustSize()
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
