"""ElidedLabel: one line of plain text that never widens its window.

Server-supplied text (room names, topics, user names, server names) can be any length.
A QLabel's size hint is its whole text, so a 200-character topic pushed the main window
wider than the screen. This label reports a small minimum width, paints its text elided
to whatever width it gets, and shows the full text in its tooltip when it is cut.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

#: The widest any elided label asks to be, in average characters.
PREFERRED_CHARS = 28
MINIMUM_CHARS = 4


class ElidedLabel(QLabel):
    """A single-line plain-text QLabel elided on the right; the tooltip holds the full text."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        """Overrides QLabel.setText: keep the full text, flatten newlines, update the tooltip."""
        self._full = " ".join(str(text).split("\n"))
        super().setText(self._full)
        self._update_tooltip()
        self.updateGeometry()
        self.update()

    def full_text(self) -> str:
        return self._full

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self._full) > self.contentsRect().width()

    def _update_tooltip(self) -> None:
        self.setToolTip(self._full if self._full and self.is_elided() else "")

    def sizeHint(self) -> QSize:  # noqa: N802
        """Overrides QLabel.sizeHint: at most PREFERRED_CHARS wide, whatever the text."""
        fm = self.fontMetrics()
        m = self.contentsMargins()
        width = min(fm.horizontalAdvance(self._full), fm.averageCharWidth() * PREFERRED_CHARS)
        return QSize(width + m.left() + m.right(), fm.height() + m.top() + m.bottom())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        """Overrides QLabel.minimumSizeHint: a few characters, never the whole text."""
        fm = self.fontMetrics()
        m = self.contentsMargins()
        width = min(fm.horizontalAdvance(self._full), fm.averageCharWidth() * MINIMUM_CHARS)
        return QSize(width + m.left() + m.right(), fm.height() + m.top() + m.bottom())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QWidget.resizeEvent: the tooltip depends on whether the text fits."""
        super().resizeEvent(event)
        self._update_tooltip()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        """Overrides QLabel.paintEvent: draw the text elided to the width we have."""
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment()) | Qt.AlignmentFlag.AlignVCenter, shown)
