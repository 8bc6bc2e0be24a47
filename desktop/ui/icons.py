"""Icons for the UI: the shipped ones from ``resources/`` when present, else drawn here.

``desktop.resources.icon(name)`` is tried first; a missing module or a null icon falls back
to a small QPainter drawing, so the app never shows a blank button.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

from desktop.ui import theme

logger = logging.getLogger(__name__)

_SIZE = 64
_cache: dict[tuple[str, str], QIcon] = {}


def _shipped(name: str, colour: QColor | None) -> QIcon | None:
    try:
        from desktop import resources  # owned by another part; may not exist yet
    except ImportError:
        return None
    try:
        found = resources.icon(name, colour)
    except Exception:  # a broken resource must not break the UI
        logger.debug("no shipped icon %s", name)
        return None
    return None if found is None or found.isNull() else found


def _fg() -> QColor:
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        return theme.text(app.palette())
    return QColor("#333333")


def _pen(colour: QColor, width: float = 5.0) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _check(p: QPainter, dx: float, colour: QColor) -> None:
    p.setPen(_pen(colour, 5.5))
    path = QPainterPath(QPointF(10 + dx, 34))
    path.lineTo(22 + dx, 46)
    path.lineTo(44 + dx, 20)
    p.drawPath(path)


def _draw(name: str, p: QPainter, fg: QColor) -> None:
    p.setBrush(Qt.BrushStyle.NoBrush)
    if name == "status-pending":
        colour = theme.mix(fg, QColor("#888888"), 0.5)
        p.setPen(_pen(colour, 4.5))
        p.drawEllipse(QRectF(12, 12, 40, 40))
        p.drawLine(QPointF(32, 32), QPointF(32, 19))
        p.drawLine(QPointF(32, 32), QPointF(41, 37))
    elif name == "status-sent":
        _check(p, 4, theme.mix(fg, QColor("#888888"), 0.5))
    elif name in ("status-delivered", "status-read"):
        colour = theme.ACCENT if name == "status-read" else theme.mix(fg, QColor("#888888"), 0.5)
        _check(p, -4, colour)
        _check(p, 12, colour)
    elif name == "status-failed":
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.DANGER)
        p.drawEllipse(QRectF(8, 8, 48, 48))
        p.setPen(_pen(QColor("white"), 6))
        p.drawLine(QPointF(32, 18), QPointF(32, 35))
        p.drawPoint(QPointF(32, 45))
    elif name == "send":
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.ACCENT)
        path = QPainterPath(QPointF(8, 10))
        path.lineTo(58, 32)
        path.lineTo(8, 54)
        path.lineTo(16, 32)
        path.closeSubpath()
        p.drawPath(path)
    elif name == "attach":
        p.setPen(_pen(fg, 4.5))
        p.translate(32, 32)
        p.rotate(45)
        p.drawRoundedRect(QRectF(-9, -24, 18, 46), 9, 9)
        p.drawLine(QPointF(0, -12), QPointF(0, 12))
    elif name == "add":
        p.setPen(_pen(fg, 5.5))
        p.drawLine(QPointF(32, 12), QPointF(32, 52))
        p.drawLine(QPointF(12, 32), QPointF(52, 32))
    elif name == "members":
        p.setPen(_pen(fg, 4.5))
        p.drawEllipse(QRectF(14, 10, 18, 18))
        p.drawArc(QRectF(6, 34, 34, 30), 0, 180 * 16)
        p.drawEllipse(QRectF(36, 14, 14, 14))
        p.drawArc(QRectF(34, 34, 26, 24), 0, 180 * 16)
    elif name == "search":
        p.setPen(_pen(fg, 5.5))
        p.drawEllipse(QRectF(10, 10, 32, 32))
        p.drawLine(QPointF(37, 37), QPointF(54, 54))
    elif name == "close":
        p.setPen(_pen(fg, 5.5))
        p.drawLine(QPointF(16, 16), QPointF(48, 48))
        p.drawLine(QPointF(48, 16), QPointF(16, 48))
    elif name == "parley":
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.ACCENT)
        p.drawRoundedRect(QRectF(4, 6, 56, 42), 14, 14)
        tail = QPainterPath(QPointF(16, 44))
        tail.lineTo(12, 60)
        tail.lineTo(30, 46)
        p.drawPath(tail)
        p.setBrush(QColor("white"))
        for i in range(3):
            p.drawEllipse(QPointF(19 + i * 13, 27), 4.5, 4.5)
    else:
        p.setPen(_pen(fg, 4))
        p.drawEllipse(QRectF(16, 16, 32, 32))


def icon(name: str, colour: QColor | None = None) -> QIcon:
    """The icon called ``name`` (shipped if available, else drawn), cached per colour.

    ``colour`` defaults to the palette's text colour (icons with fixed colours ignore it).
    """
    fg = QColor(colour) if colour is not None else _fg()
    key = (name, fg.name())
    found = _cache.get(key)
    if found is not None:
        return found
    shipped = _shipped(name, colour)
    if shipped is not None:
        _cache[key] = shipped
        return shipped
    pixmap = QPixmap(_SIZE, _SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _draw(name, painter, fg)
    painter.end()
    drawn = QIcon(pixmap)
    _cache[key] = drawn
    return drawn


def status_icon_name(status: int) -> str:
    """The icon name for a ``DeliveryStatus`` value."""
    return {
        0: "status-pending",
        1: "status-sent",
        2: "status-delivered",
        3: "status-read",
        4: "status-failed",
    }.get(int(status), "status-sent")


def paint_avatar(
    p: QPainter, rect: QRectF, name: str, palette: QPalette, dim: bool = False
) -> None:
    """A round avatar with the name's initial, readable in both themes (see theme)."""
    colour = theme.avatar_colour(name, palette)
    if dim:
        colour = theme.mix(colour, palette.color(QPalette.ColorRole.Base), 0.35)
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawEllipse(rect)
    font = p.font()
    font.setBold(True)
    font.setPixelSize(max(8, int(rect.height() * 0.5)))
    p.setFont(font)
    p.setPen(theme.initials_colour(colour))
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, (name[:1] or "?").upper())
    p.restore()


def room_icon(kind: str, name: str, palette: QPalette) -> QIcon:
    """The glyph the sidebar uses for a room: "#", a lock, or the person's avatar."""
    pixmap = QPixmap(_SIZE, _SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    fg = theme.muted(palette)
    if kind in ("dm", "person"):
        paint_avatar(p, QRectF(4, 4, _SIZE - 8, _SIZE - 8), name, palette)
    elif kind == "private":
        p.setPen(_pen(fg, 5))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(QRectF(14, 28, 36, 28), 5, 5)
        p.drawArc(QRectF(20, 10, 24, 32), 0, 180 * 16)
    else:
        font = p.font()
        font.setPixelSize(48)
        p.setFont(font)
        p.setPen(fg)
        p.drawText(QRectF(0, 0, _SIZE, _SIZE), Qt.AlignmentFlag.AlignCenter, "#")
    p.end()
    return QIcon(pixmap)
