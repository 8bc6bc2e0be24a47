"""Painting one timeline row from its :class:`RowLayout`: no geometry is decided here.

Every function takes the painter already translated to the row's top-left corner and
the palette, so light and dark themes both come from the palette (plus the accent).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QTextCharFormat,
    QTextLayout,
)

from desktop.state.types import DeliveryStatus, Message
from desktop.ui import icons, theme
from desktop.ui.message_layout import MARGIN_X, RADIUS, STATUS_SIZE, RowLayout

UNREAD_LABEL = "New messages"


def paint_day(p: QPainter, lay: RowLayout, palette: QPalette, font: QFont) -> None:
    """The day separator: a pill on a hairline."""
    assert lay.day_rect is not None
    paint_pill_line(p, lay.day_rect, lay.day_label, palette, font, theme.subtle_border(palette),
                    theme.muted(palette))


def paint_unread(p: QPainter, lay: RowLayout, palette: QPalette, font: QFont) -> None:
    """The "New messages" divider above the first unread message."""
    assert lay.unread_rect is not None
    paint_pill_line(p, lay.unread_rect, UNREAD_LABEL, palette, font, theme.DANGER, theme.DANGER)


def paint_pill_line(
    p: QPainter,
    r: QRect,
    label: str,
    palette: QPalette,
    font: QFont,
    line: QColor,
    ink: QColor,
) -> None:
    fm = QFontMetrics(font)
    w = fm.horizontalAdvance(label) + 24
    h = fm.height() + 8
    pill = QRect(r.center().x() - w // 2, r.center().y() - h // 2 + 2, w, h)
    p.setPen(QPen(line, 1))
    y = pill.center().y()
    p.drawLine(MARGIN_X, y, pill.left() - 12, y)
    p.drawLine(pill.right() + 12, y, r.right() - MARGIN_X, y)
    p.setBrush(palette.color(QPalette.ColorRole.Base))
    p.drawRoundedRect(QRectF(pill), h / 2, h / 2)
    p.setFont(font)
    p.setPen(ink)
    p.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)


def paint_system(p: QPainter, lay: RowLayout, palette: QPalette, font: QFont, text: str) -> None:
    assert lay.system_rect is not None
    p.setFont(font)
    p.setPen(theme.muted(palette))
    p.drawText(
        lay.system_rect.adjusted(12, 4, -12, -4),
        Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
        text,
    )


def paint_bubble(
    p: QPainter, lay: RowLayout, palette: QPalette, own: bool, msg: Message, name_font: QFont,
    mentioned: bool = False,
) -> None:
    if lay.avatar_rect is not None and msg.sender:
        colour = theme.avatar_colour(msg.sender, palette)  # readable initials, both themes
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawEllipse(QRectF(lay.avatar_rect))
        p.setPen(theme.initials_colour(colour))
        f = QFont(name_font)
        f.setPixelSize(15)
        p.setFont(f)
        p.drawText(lay.avatar_rect, Qt.AlignmentFlag.AlignCenter, msg.sender[:1].upper())
    if lay.bubble_rect is None:
        return
    fill = theme.own_bubble(palette) if own else theme.other_bubble(palette)
    if mentioned:  # a message that mentions the user stands out, as in Slack
        fill = theme.mix(fill, theme.ACCENT, 0.22)
    failed = own and msg.status == DeliveryStatus.FAILED
    p.setPen(QPen(theme.DANGER, 1.2) if failed else Qt.PenStyle.NoPen)
    p.setBrush(fill)
    p.drawRoundedRect(QRectF(lay.bubble_rect).adjusted(0.5, 0.5, -0.5, -0.5), RADIUS, RADIUS)
    if lay.name_rect is not None and msg.sender:
        p.setFont(name_font)
        p.setPen(theme.name_colour(msg.sender, palette))
        name = QFontMetrics(name_font).elidedText(
            msg.sender, Qt.TextElideMode.ElideRight, lay.name_rect.width()
        )
        p.drawText(lay.name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)


def paint_flash(p: QPainter, lay: RowLayout) -> None:
    """A message scrolled to (a reply's parent) lights up for a moment."""
    rect = lay.bubble_rect or lay.system_rect
    if rect is None:
        return
    colour = QColor(theme.ACCENT)
    colour.setAlpha(70)
    p.setPen(QPen(theme.ACCENT, 2))
    p.setBrush(colour)
    p.drawRoundedRect(QRectF(rect).adjusted(-2, -2, 2, 2), RADIUS + 2, RADIUS + 2)


def paint_focus(p: QPainter, lay: RowLayout) -> None:
    """The keyboard focus: an accent ring around the message."""
    rect = QRectF(lay.content_rect()).adjusted(-2.5, -2.5, 2.5, 2.5)
    p.setPen(QPen(theme.ACCENT, 2))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(rect, RADIUS + 2, RADIUS + 2)


def paint_image(
    p: QPainter, lay: RowLayout, palette: QPalette, pixmap: QPixmap | None, label: str
) -> None:
    """The picture (or a placeholder of the right aspect while it decodes)."""
    if lay.image_rect is None:
        return
    rect = QRectF(lay.image_rect)
    clip = QPainterPath()
    # a small picture keeps its corners (a 16 px icon must not turn into a dot)
    radius = min(RADIUS - 3, min(rect.width(), rect.height()) / 6)
    clip.addRoundedRect(rect, radius, radius)
    p.save()
    p.setClipPath(clip)
    if pixmap is not None and not pixmap.isNull():
        p.drawPixmap(lay.image_rect, pixmap)
    else:
        p.fillRect(
            rect,
            theme.mix(
                palette.color(QPalette.ColorRole.Base),
                palette.color(QPalette.ColorRole.Text),
                0.12,
            ),
        )
        if lay.image_rect.width() >= 60 and lay.image_rect.height() >= 20:
            p.setPen(theme.muted(palette))
            p.drawText(lay.image_rect, Qt.AlignmentFlag.AlignCenter, label)
    p.restore()


def paint_text(
    p: QPainter,
    lay: RowLayout,
    palette: QPalette,
    font: QFont,
    selection: tuple[int, int] | None = None,
) -> None:
    if lay.text_layout is None or lay.text_origin is None:
        return
    if lay.boxes:
        _paint_boxes(p, lay, palette)
    p.setPen(theme.muted(palette) if lay.muted_text else theme.text(palette))
    p.setFont(font)
    ranges = []
    # Link colour is applied at draw time so a palette change needs no relayout.
    for start, length, _url in lay.links:
        fr = QTextLayout.FormatRange()
        fr.start = start
        fr.length = length
        fmt = QTextCharFormat()
        fmt.setForeground(theme.link(palette))
        fmt.setFontUnderline(True)
        fr.format = fmt
        ranges.append(fr)
    if selection is not None and selection[1] > 0:
        fr = QTextLayout.FormatRange()
        fr.start, fr.length = selection
        fmt = QTextCharFormat()
        fmt.setBackground(palette.color(QPalette.ColorRole.Highlight))
        fmt.setForeground(palette.color(QPalette.ColorRole.HighlightedText))
        fr.format = fmt
        ranges.append(fr)
    lay.text_layout.draw(p, lay.text_origin, ranges)


def _paint_boxes(p: QPainter, lay: RowLayout, palette: QPalette) -> None:
    """Behind the text: code block boxes, quote bars, mention pills, inline code boxes."""
    assert lay.text_origin is not None
    base = palette.color(QPalette.ColorRole.Base)
    # boxes are the text colour, faint, over the bubble: visible on either theme's bubble
    shade = QColor(theme.text(palette))
    shade.setAlpha(30)
    p.save()
    p.translate(lay.text_origin)
    p.setPen(Qt.PenStyle.NoPen)
    for kind, rect in lay.boxes:
        if kind == "pre":
            p.setBrush(shade)
            p.drawRoundedRect(rect.adjusted(-4, -2, 4, 2), 5, 5)
        elif kind == "quote":
            p.setBrush(theme.ACCENT)
            p.drawRoundedRect(rect, 1.5, 1.5)
        elif kind == "code":
            p.setBrush(shade)
            p.drawRoundedRect(rect, 3, 3)
        elif kind == "mention":
            p.setBrush(theme.mix(base, theme.ACCENT, 0.28))
            p.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
    p.restore()


def paint_status(
    p: QPainter, lay: RowLayout, palette: QPalette, own: bool, msg: Message, font: QFont
) -> None:
    if lay.meta_rect is None:
        return
    p.setFont(font)
    failed = own and msg.status == DeliveryStatus.FAILED
    text_rect = QRect(lay.meta_rect)
    if lay.meta_on_image:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 120))
        p.drawRoundedRect(
            QRectF(lay.meta_rect), lay.meta_rect.height() / 2, lay.meta_rect.height() / 2
        )
        text_rect.adjust(6, 0, -6, 0)
        p.setPen(QColor("white"))
    else:
        p.setPen(theme.DANGER if failed else theme.muted(palette))
    if own:
        text_rect.setRight(text_rect.right() - STATUS_SIZE - 3)
    p.drawText(
        text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, lay.meta_text
    )
    if own and lay.status_rect is not None:
        # Over a photo the ticks are white, like the time beside them.
        colour = QColor("white") if lay.meta_on_image else None
        icons.icon(icons.status_icon_name(msg.status), colour).paint(p, lay.status_rect)
