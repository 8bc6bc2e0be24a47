"""SearchDelegate paints one search result: room, sender and date on the first line, the
text under it (two lines at most) with the matching words highlighted.

The text is laid out with QTextLayout as plain text; the highlights are format ranges
over character spans, so nothing a user wrote is ever read as markup. Every row has the
same height (``uniformItemSizes``), which keeps scrolling long result lists cheap.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
    QTextCharFormat,
    QTextLayout,
)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from desktop.models.search_list import SearchRoles
from desktop.state.search import SearchResult
from desktop.ui import theme

PAD_X = 12
PAD_Y = 7
GAP = 3
TEXT_LINES = 2
MARK = QColor("#f2c94c")  # the highlighter's yellow, mixed into the base colour


def result_date(ts_ms: int, now: dt.datetime | None = None) -> str:
    """"14:05" today, "24 Nov" this year, "24 Nov 2025" before (local time)."""
    when = dt.datetime.fromtimestamp(ts_ms / 1000)
    now = now or dt.datetime.now()
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if when.year == now.year:
        return f"{when.day} {when.strftime('%b')}"
    return f"{when.day} {when.strftime('%b %Y')}"


def mark_colour(palette: QPalette) -> QColor:
    """The highlight behind matching words, readable in light and dark themes."""
    base = palette.color(QPalette.ColorRole.Base)
    return theme.mix(base, MARK, 0.38 if theme.is_dark(palette) else 0.7)


class SearchDelegate(QStyledItemDelegate):
    """Paints search results (see the module docstring)."""

    def __init__(self, room_name: object = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.room_name = room_name if callable(room_name) else (lambda room: room)

    def row_height(self, font: QFont) -> int:
        fm = QFontMetrics(font)
        return PAD_Y * 2 + fm.height() + GAP + fm.lineSpacing() * TEXT_LINES

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        """Overrides QStyledItemDelegate.sizeHint: one height for every row."""
        return QSize(option.rect.width(), self.row_height(option.font))  # type: ignore[attr-defined]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """Overrides QStyledItemDelegate.paint."""
        item = index.data(SearchRoles.ItemRole)
        if not isinstance(item, SearchResult):
            return
        rect: QRect = option.rect  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        painter.save()
        try:
            if state & QStyle.StateFlag.State_Selected:
                painter.fillRect(rect, theme.selection(palette))
            elif state & QStyle.StateFlag.State_MouseOver:
                painter.fillRect(rect, theme.mix(palette.color(QPalette.ColorRole.Base),
                                                 theme.text(palette), 0.05))
            painter.setPen(theme.subtle_border(palette))
            painter.drawLine(rect.left() + PAD_X, rect.bottom(), rect.right() - PAD_X,
                             rect.bottom())
            self._paint_header(painter, option, item, rect.adjusted(PAD_X, PAD_Y, -PAD_X, 0))
            fm = QFontMetrics(option.font)  # type: ignore[attr-defined]
            top = rect.top() + PAD_Y + fm.height() + GAP
            self._paint_text(painter, option, item,
                             QRect(rect.left() + PAD_X, top, rect.width() - 2 * PAD_X,
                                   fm.lineSpacing() * TEXT_LINES))
        finally:
            painter.restore()

    def _paint_header(self, painter: QPainter, option: QStyleOptionViewItem,
                      item: SearchResult, rect: QRect) -> None:
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        font = QFont(option.font)  # type: ignore[attr-defined]
        fm = QFontMetrics(font)
        msg = item.message
        date = result_date(msg.ts)
        painter.setFont(font)
        painter.setPen(theme.muted(palette))
        date_w = fm.horizontalAdvance(date)
        painter.drawText(QRect(rect.right() - date_w, rect.top(), date_w, fm.height()),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, date)
        room = self.room_name(msg.room)
        room_text = f"{room}  ·  "
        bold = QFont(font)
        bold.setBold(True)
        bfm = QFontMetrics(bold)
        room_w = min(fm.horizontalAdvance(room_text), (rect.width() - date_w) // 2)
        room_text = fm.elidedText(room_text, Qt.TextElideMode.ElideMiddle, room_w)
        painter.drawText(QRect(rect.left(), rect.top(), room_w, fm.height()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, room_text)
        sender_w = max(0, rect.width() - date_w - room_w - 8)
        sender = bfm.elidedText(msg.sender or "someone", Qt.TextElideMode.ElideRight, sender_w)
        painter.setFont(bold)
        painter.setPen(theme.name_colour(msg.sender or "", palette))
        painter.drawText(QRect(rect.left() + room_w, rect.top(), sender_w, fm.height()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, sender)

    def _paint_text(self, painter: QPainter, option: QStyleOptionViewItem,
                    item: SearchResult, rect: QRect) -> None:
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        font = QFont(option.font)  # type: ignore[attr-defined]
        fm = QFontMetrics(font)
        text = item.text or "(no text)"
        layout = QTextLayout(text, font)
        formats = []
        mark = mark_colour(palette)
        for start, end in item.spans:
            fmt = QTextLayout.FormatRange()
            fmt.start, fmt.length = start, end - start
            char = QTextCharFormat()
            char.setBackground(mark)
            char.setFontWeight(QFont.Weight.Bold)
            fmt.format = char
            formats.append(fmt)
        layout.setFormats(formats)
        ellipsis_w = fm.horizontalAdvance("…")
        layout.beginLayout()
        lines = []
        y = 0.0
        for n in range(TEXT_LINES):
            line = layout.createLine()
            if not line.isValid():
                break
            last = n == TEXT_LINES - 1
            line.setLineWidth(rect.width() - (ellipsis_w if last else 0))
            line.setPosition(QPointF(0, y))
            y += fm.lineSpacing()
            lines.append(line)
        layout.endLayout()
        painter.setPen(theme.text(palette))
        painter.setClipRect(rect)
        layout.draw(painter, QPointF(rect.topLeft()))
        if lines:
            tail = lines[-1]
            if tail.textStart() + tail.textLength() < len(text):
                painter.setFont(font)
                x = rect.left() + int(tail.naturalTextWidth())
                baseline = rect.top() + int(tail.y() + tail.ascent())
                painter.drawText(x, baseline, "…")
