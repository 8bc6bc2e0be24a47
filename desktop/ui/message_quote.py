"""Painting the quoted parent of a reply inside its bubble (protocol v2 section 11).

A bar in the sender's colour, the sender's name, and one line of the parent's text
(elided), or "Message deleted" once the parent is gone. The geometry (``quote_rect``)
comes from :func:`desktop.ui.message_layout.compute_layout`.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette

from desktop.state.markdown import plain_text
from desktop.state.types import Message, ReplyPreview
from desktop.ui import theme
from desktop.ui.message_layout import QUOTE_PAD

QUOTE_BAR_W = 3


def quote_line(quote: ReplyPreview) -> str:
    """The one line a quote shows of its parent."""
    if quote.deleted:
        return "Message deleted"
    text = " ".join(plain_text(quote.text).split())  # as the parent shows: no ** markers
    if quote.kind == "image":
        return f"Image{': ' + text if text else ''}"
    return text or "Message"


def paint_quote(p: QPainter, rect: QRect, palette: QPalette, msg: Message,
                name_font: QFont, meta_font: QFont) -> None:
    quote = msg.reply_to
    if quote is None:
        return
    p.save()
    colour = theme.name_colour(quote.sender or "", palette)
    back = QColor(colour)
    back.setAlpha(28)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(back)
    p.drawRoundedRect(QRectF(rect), 4, 4)
    p.setBrush(colour)
    p.drawRoundedRect(QRectF(rect.left(), rect.top(), QUOTE_BAR_W, rect.height()), 1.5, 1.5)
    inner = rect.adjusted(QUOTE_BAR_W + 6, QUOTE_PAD, -6, -QUOTE_PAD)
    name_fm = QFontMetrics(name_font)
    p.setFont(name_font)
    p.setPen(colour)
    p.drawText(QRect(inner.left(), inner.top(), inner.width(), name_fm.height()),
               Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
               name_fm.elidedText(quote.sender or "someone", Qt.TextElideMode.ElideRight,
                                  inner.width()))
    meta_fm = QFontMetrics(meta_font)
    p.setFont(meta_font)
    p.setPen(theme.muted(palette))
    line = QRect(inner.left(), inner.top() + name_fm.height(), inner.width(), meta_fm.height())
    p.drawText(line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
               meta_fm.elidedText(quote_line(quote), Qt.TextElideMode.ElideRight,
                                  inner.width()))
    p.restore()
