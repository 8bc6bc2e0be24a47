"""Icons for files by type, painted (no image files): a page with a folded corner in the
type's colour and a short label (PDF, ZIP, a note, a play mark, </>).

The colours are the same in both themes (white labels on them read at 4.5:1 or more);
the type comes from :func:`desktop.state.filenames.file_kind` (the server's sniffed mime
first, then the name).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPixmap

from desktop.state.filenames import extension, file_kind

KIND_COLOURS = {
    "pdf": QColor("#c6343b"),
    "archive": QColor("#9a6a00"),
    "audio": QColor("#7b4bb3"),
    "video": QColor("#b0306b"),
    "image": QColor("#2e7d32"),
    "text": QColor("#1e63c4"),
    "file": QColor("#5f6670"),
}
_GLYPHS = {"audio": "♪", "video": "▶", "text": "</>"}


def icon_label(name: str, mime: str) -> str:
    """The few characters written on the page."""
    kind = file_kind(name, mime)
    if kind == "pdf":
        return "PDF"
    if kind in _GLYPHS and not (kind == "text" and extension(name) in ("txt", "md", "log")):
        return _GLYPHS[kind]
    ext = extension(name)
    if ext and len(ext) <= 4:
        return ext.upper()
    return {"archive": "ZIP", "image": "IMG", "text": "TXT"}.get(kind, "FILE")


def paint_file_icon(p: QPainter, rect: QRectF, name: str, mime: str) -> None:
    """The page icon filling ``rect`` (about 5:6)."""
    kind = file_kind(name, mime)
    colour = KIND_COLOURS.get(kind, KIND_COLOURS["file"])
    fold = min(rect.width(), rect.height()) * 0.32
    page = QPainterPath()
    page.moveTo(rect.topLeft())
    page.lineTo(rect.right() - fold, rect.top())
    page.lineTo(rect.right(), rect.top() + fold)
    page.lineTo(rect.bottomRight())
    page.lineTo(rect.bottomLeft())
    page.closeSubpath()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawPath(page)
    corner = QPainterPath()
    corner.moveTo(rect.right() - fold, rect.top())
    corner.lineTo(rect.right() - fold, rect.top() + fold)
    corner.lineTo(rect.right(), rect.top() + fold)
    corner.closeSubpath()
    p.setBrush(colour.lighter(150))
    p.drawPath(corner)
    label = icon_label(name, mime)
    font = QFont(p.font())
    font.setBold(True)
    size = rect.height() * (0.36 if len(label) <= 1 else 0.24 if len(label) <= 3 else 0.2)
    font.setPixelSize(max(7, round(size)))
    p.setFont(font)
    p.setPen(QColor("white"))
    text_rect = QRectF(rect.left(), rect.top() + fold * 0.7, rect.width(),
                       rect.height() - fold * 0.7)
    p.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, label)
    p.restore()


def file_icon_pixmap(name: str, mime: str, height: int, dpr: float = 1.0) -> QPixmap:
    """The icon as a pixmap ``height`` px tall (the composer's preview strip)."""
    width = round(height * 5 / 6)
    pixmap = QPixmap(round(width * dpr), round(height * dpr))
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    paint_file_icon(painter, QRectF(QPointF(0, 0), QPointF(width, height)), name, mime)
    painter.end()
    return pixmap
