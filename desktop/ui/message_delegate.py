"""The one delegate that paints every timeline row: no widget per message.

``_layout()`` computes every rectangle of a row (day separator, avatar, bubble, name,
image, text, time and status) and both ``paint()`` and ``sizeHint()`` use it, so they can
never disagree. Layouts are cached per message identity, width and the few inputs that
change geometry; a width change simply misses the cache.

``sizeHint()`` is what a QListView calls for every row of every layout pass (each insert
during a flood), so it and ``paint()`` use a cheaper cache first: the layout per message
object and width, with no role lookups. The view calls ``forget()`` for rows whose data changed
(the model emits dataChanged for a status change and for a row whose neighbours changed).

Text is plain text laid out with QTextLayout: never rich text or HTML. The only formats
are the link ranges the delegate found itself (colour + underline on URLs).

Signals: ``imageReady()`` when a thumbnail finished decoding (the view repaints).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PySide6.QtCore import (
    QDateTime,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageRoles
from desktop.models.row_sync import AnyIndex
from desktop.state.types import DeliveryStatus, Message
from desktop.ui import icons, theme

logger = logging.getLogger(__name__)


MARGIN_X = 18
AVATAR = 34
AVATAR_GAP = 10
PAD_X = 11
PAD_Y = 7
HEADER_GAP = 10
RUN_GAP = 3
DAY_H = 40
META_GAP = 10
STATUS_SIZE = 15
MAX_BUBBLE = 640
THUMB_MAX_W = 320
THUMB_MAX_H = 300
THUMB_MIN = 48
RADIUS = 10.0
# Rows laid out at once are the window (150-300) plus a grow step or two; every cached
# layout is ~10 objects a full garbage collection has to walk, so keep this modest.
CACHE_LIMIT = 1000

URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]", re.IGNORECASE)


def find_links(text: str) -> list[tuple[int, int, str]]:
    """(start, length, url) of every URL in ``text``; ``www.`` gets ``https://``."""
    found = []
    for m in URL_RE.finditer(text):
        url = m.group(0)
        if url.lower().startswith("www."):
            url = "https://" + url
        found.append((m.start(), m.end() - m.start(), url))
    return found


@dataclass
class RowLayout:
    """Every rectangle of one row, relative to the row's top-left corner."""

    height: int
    day_rect: QRect | None = None
    day_label: str = ""
    system_rect: QRect | None = None
    avatar_rect: QRect | None = None
    bubble_rect: QRect | None = None
    name_rect: QRect | None = None
    image_rect: QRect | None = None
    text_origin: QPointF | None = None
    text_layout: QTextLayout | None = None
    links: list[tuple[int, int, str]] = field(default_factory=list)
    meta_rect: QRect | None = None
    status_rect: QRect | None = None
    meta_on_image: bool = False
    meta_text: str = ""


def _ts_text(ts: int) -> str:
    return _minute_text(ts // 60_000)


@lru_cache(maxsize=4096)
def _minute_text(minute: int) -> str:
    return QDateTime.fromMSecsSinceEpoch(minute * 60_000).toString("HH:mm")


def _image_key(msg: Message) -> tuple[str | None, bytes | None, str | None, bytes | None]:
    """(thumbnail key, bytes) from the server and (local echo key, bytes) if any."""
    server_key = server_data = local_key = local_data = None
    if msg.image is not None and msg.image.thumb:
        server_key, server_data = f"{msg.image.id}@thumb", msg.image.thumb
    if msg.local_image and msg.client_id:
        local_key, local_data = f"local:{msg.client_id}@thumb", msg.local_image
    return server_key, server_data, local_key, local_data


def fit_size(width: int, height: int, max_w: int, max_h: int) -> QSize:
    """Scale (width, height) down into max_w x max_h keeping the aspect ratio."""
    if width <= 0 or height <= 0:
        width, height = 4, 3
        scale = min(max_w / width, max_h / height) * 0.8
    else:
        scale = min(1.0, max_w / width, max_h / height)
    w = max(THUMB_MIN, round(width * scale))
    h = max(THUMB_MIN, round(height * scale))
    return QSize(min(w, max_w), min(h, max_h))


class MessageDelegate(QStyledItemDelegate):
    """Paints one message per row; see the module docstring."""

    imageReady = Signal()

    def __init__(self, decoder: ImageDecoder, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._decoder = decoder
        self._layouts: OrderedDict[Hashable, RowLayout] = OrderedDict()
        # id(message) -> (message, width, layout): the fast path (see module doc)
        self._rows: dict[int, tuple[Message, int, RowLayout]] = {}
        self._rows_font: QFont | None = None
        self._key_font: QFont | None = None
        self._font_key = ""
        self._waiting: dict[str, list[QPersistentModelIndex]] = {}
        self.hover_link: str | None = None
        decoder.ready.connect(self.on_decoder_ready)
        decoder.failed.connect(self.on_decoder_ready)

    # ----- fonts
    @staticmethod
    def _fonts(base: QFont) -> tuple[QFont, QFont, QFont]:
        text_font = QFont(base)
        name_font = QFont(base)
        name_font.setBold(True)
        meta_font = QFont(base)
        size = base.pointSizeF()
        if size > 0:
            meta_font.setPointSizeF(max(6.0, size * 0.8))
        else:
            meta_font.setPixelSize(max(8, round(base.pixelSize() * 0.8)))
        return text_font, name_font, meta_font

    # ----- images
    def _thumb_size(self, msg: Message) -> QSize | None:
        if msg.kind != "image" and msg.image is None and not msg.local_image:
            return None
        if msg.image is not None and msg.image.width > 0 and msg.image.height > 0:
            return QSize(msg.image.width, msg.image.height)
        _sk, _sd, local_key, _ld = _image_key(msg)
        if local_key and local_key in self._decoder.natural_sizes:
            return self._decoder.natural_sizes[local_key]
        return QSize(0, 0)

    def thumbnail(self, msg: Message, index: AnyIndex | None = None) -> QPixmap | None:
        """The decoded thumbnail, queueing a decode (and remembering the row) if needed."""
        server_key, server_data, local_key, local_data = _image_key(msg)
        for key, data in ((server_key, server_data), (local_key, local_data)):
            if key is None or data is None:
                continue
            pixmap = self._decoder.request(key, data, THUMB_MAX_W)
            if pixmap is not None:
                return pixmap
            if index is not None and self._decoder.is_pending(key):
                waiting = self._waiting.setdefault(key, [])
                pindex = QPersistentModelIndex(index)
                if pindex not in waiting:  # paint runs often; remember each row once
                    waiting.append(pindex)
        # While the server thumbnail decodes, the local echo's pixmap (if any) stands in.
        if local_key is not None:
            return self._decoder.pixmap(local_key)
        return None

    def on_decoder_ready(self, key: str, _reason: str = "") -> None:
        """Refresh the rows waiting for ``key``; a size learnt late re-lays them out."""
        waiting = self._waiting.pop(key, [])
        for pindex in waiting:
            if pindex.isValid():
                index = pindex.model().index(pindex.row(), 0)
                if key.startswith("local:"):
                    self._drop_cached(index)
                    self.sizeHintChanged.emit(index)
        self.imageReady.emit()

    def _drop_cached(self, index: QModelIndex) -> None:
        msg = index.data(MessageRoles.ItemRole)
        if isinstance(msg, Message):
            self.forget(msg)
            ident = msg.client_id or msg.id
            for key in [k for k in self._layouts if isinstance(k, tuple) and k[0] == ident]:
                del self._layouts[key]

    # ----- layout
    @staticmethod
    def message(index: AnyIndex) -> Message | None:
        """The row's Message, straight from a model with ``message_at`` when it has one."""
        getter = getattr(index.model(), "message_at", None)
        msg = getter(index.row()) if getter is not None else index.data(MessageRoles.ItemRole)
        return msg if isinstance(msg, Message) else None

    def forget(self, msg: Message) -> None:
        """Drop ``msg``'s cached layout (its data or its neighbours changed)."""
        self._rows.pop(id(msg), None)

    def _font_cache_key(self, font: QFont) -> str:
        if self._key_font is None or font != self._key_font:
            self._key_font = QFont(font)
            self._font_key = font.key()
        return self._font_key

    def _meta_text(self, msg: Message, own: bool) -> str:
        if own and msg.status == DeliveryStatus.FAILED:
            return "Not sent · Retry" if msg.retryable else "Not sent"
        return _ts_text(msg.ts)

    def fast_layout(self, option: QStyleOptionViewItem, index: AnyIndex) -> RowLayout:
        """:meth:`layout_for`, first from the per-message cache that needs no role lookups
        (what sizeHint and paint use: a QListView asks for every row on each layout)."""
        msg = self.message(index)
        if msg is None:
            return RowLayout(height=1)
        width = option.rect.width() if option.rect.width() > 0 else 600
        font = option.font
        if self._rows_font is None or font != self._rows_font:
            self._rows.clear()
            self._rows_font = QFont(font)
        ident = id(msg)
        hit = self._rows.get(ident)
        if hit is not None and hit[0] is msg and hit[1] == width:
            return hit[2]
        lay = self.layout_for(option, index)
        self._rows[ident] = (msg, width, lay)
        if len(self._rows) > CACHE_LIMIT:
            del self._rows[next(iter(self._rows))]
        return lay

    def layout_for(self, option: QStyleOptionViewItem, index: AnyIndex) -> RowLayout:
        """The cached :class:`RowLayout` of ``index`` at the option's width."""
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return RowLayout(height=1)
        own = bool(index.data(MessageRoles.IsOwnRole))
        header = bool(index.data(MessageRoles.ShowHeaderRole))
        day = index.data(MessageRoles.DaySeparatorRole) or ""
        width = option.rect.width() if option.rect.width() > 0 else 600
        thumb = self._thumb_size(msg)
        display = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        meta = self._meta_text(msg, own)
        key = (
            msg.client_id or msg.id,
            width,
            own,
            header,
            day,
            None if thumb is None else (thumb.width(), thumb.height()),
            meta,
            msg.text if msg.kind != "system" else display,
            self._font_cache_key(option.font),
        )
        cached = self._layouts.get(key)
        if cached is not None:
            self._layouts.move_to_end(key)
            return cached
        result = self._layout(msg, width, own, header, day, thumb, meta, display, option.font)
        self._layouts[key] = result
        while len(self._layouts) > CACHE_LIMIT:
            self._layouts.popitem(last=False)
        return result

    def _layout(
        self,
        msg: Message,
        width: int,
        own: bool,
        header: bool,
        day: str,
        thumb: QSize | None,
        meta: str,
        display: str,
        font: QFont,
    ) -> RowLayout:
        """Compute every rectangle of one row; the single source for paint and sizeHint."""
        text_font, name_font, meta_font = self._fonts(font)
        fm = QFontMetrics(text_font)
        meta_fm = QFontMetrics(meta_font)
        out = RowLayout(height=0)
        y = 0
        if day:
            out.day_rect = QRect(0, y, width, DAY_H)
            out.day_label = day
            y += DAY_H
        if msg.kind == "system":
            y += 6
            line_w = min(width - 2 * MARGIN_X, fm.horizontalAdvance(display) + 24)
            lines = max(1, -(-fm.horizontalAdvance(display) // max(1, width - 2 * MARGIN_X - 24)))
            h = lines * meta_fm.height() + 8
            out.system_rect = QRect((width - line_w) // 2, y, line_w, h)
            out.height = y + h + 6
            return out

        y += HEADER_GAP if header else RUN_GAP
        show_name = header and not own
        left_col = MARGIN_X + (0 if own else AVATAR + AVATAR_GAP)
        max_bubble = max(
            120, min(MAX_BUBBLE, int((width - MARGIN_X - left_col) * (0.78 if own else 0.85)))
        )
        inner_max = max_bubble - 2 * PAD_X
        status_w = STATUS_SIZE + 3 if own else 0
        meta_w = meta_fm.horizontalAdvance(meta) + status_w

        # Text (the message text, or an image caption), plain.
        text = msg.text
        layout: QTextLayout | None = None
        text_w = 0.0
        text_h = 0.0
        last_line_w = 0.0
        if text:
            # QTextLayout breaks lines only at U+2028; the swap keeps every index the same.
            layout = QTextLayout(text.replace("\n", "\u2028"), text_font)
            opt = QTextOption()
            opt.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            layout.setTextOption(opt)
            links = find_links(text)
            out.links = links
            if links:
                ranges = []
                for start, length, _url in links:
                    fr = QTextLayout.FormatRange()
                    fr.start = start
                    fr.length = length
                    fmt = QTextCharFormat()
                    fmt.setFontUnderline(True)
                    fr.format = fmt
                    ranges.append(fr)
                layout.setFormats(ranges)
            layout.beginLayout()
            line_y = 0.0
            while True:
                line = layout.createLine()
                if not line.isValid():
                    break
                line.setLineWidth(inner_max)
                line.setPosition(QPointF(0, line_y))
                line_y += line.height()
                text_w = max(text_w, line.naturalTextWidth())
                last_line_w = line.naturalTextWidth()
            layout.endLayout()
            text_h = line_y
            out.text_layout = layout

        name_h = QFontMetrics(name_font).height() + 2 if show_name else 0
        name_w = QFontMetrics(name_font).horizontalAdvance(msg.sender or "") if show_name else 0

        img_size: QSize | None = None
        if thumb is not None:
            img_size = fit_size(
                thumb.width(), thumb.height(), min(THUMB_MAX_W, max_bubble - 8), THUMB_MAX_H
            )

        # Where the time goes: beside the last text line if it fits, else its own line;
        # on an image without caption it floats over the image's corner.
        meta_h = meta_fm.height()
        meta_own_line = False
        if layout is not None:
            if last_line_w + META_GAP + meta_w <= inner_max:
                inner_w = max(text_w, last_line_w + META_GAP + meta_w)
            else:
                inner_w = max(text_w, meta_w)
                meta_own_line = True
        else:
            inner_w = meta_w
        inner_w = max(inner_w, name_w)

        if img_size is not None:
            bubble_w = max(img_size.width() + 8, int(inner_w) + 2 * PAD_X)
        else:
            bubble_w = int(inner_w) + 2 * PAD_X + 1
        bubble_w = min(bubble_w, max_bubble)
        bx = width - MARGIN_X - bubble_w if own else left_col
        by = y
        cy = by
        if show_name:
            out.name_rect = QRect(bx + PAD_X, cy + PAD_Y - 1, bubble_w - 2 * PAD_X, name_h)
            cy += PAD_Y + name_h - 2
        if img_size is not None:
            top = cy + (2 if show_name else 4)
            ix = bx + (bubble_w - img_size.width()) // 2
            out.image_rect = QRect(ix, top, img_size.width(), img_size.height())
            cy = top + img_size.height()
            if layout is None:
                out.meta_on_image = True
                bottom = cy + 4
            else:
                cy += 2
        if layout is not None:
            cy += PAD_Y if img_size is None and not show_name else 2
            out.text_origin = QPointF(bx + PAD_X, cy)
            cy += int(text_h + 0.999)
            if meta_own_line:
                cy += meta_h
            bottom = cy + PAD_Y
        elif img_size is None:
            bottom = cy + 2 * PAD_Y + meta_h
        out.bubble_rect = QRect(bx, by, bubble_w, bottom - by)

        # Time (and status) at the bubble's bottom right.
        if out.meta_on_image and out.image_rect is not None:
            mr = QRect(0, 0, meta_w + 12, meta_h + 4)
            mr.moveBottomRight(out.image_rect.bottomRight() - QPoint(6, 6))
            out.meta_rect = mr
            if own:
                out.status_rect = QRect(
                    mr.right() - 6 - STATUS_SIZE,
                    mr.center().y() - STATUS_SIZE // 2,
                    STATUS_SIZE,
                    STATUS_SIZE,
                )
        else:
            mr = QRect(0, 0, meta_w, meta_h)
            mr.moveBottomRight(QPoint(bx + bubble_w - PAD_X, bottom - PAD_Y + 1))
            out.meta_rect = mr
            if own:
                out.status_rect = QRect(
                    mr.right() - STATUS_SIZE + 1,
                    mr.center().y() - STATUS_SIZE // 2,
                    STATUS_SIZE,
                    STATUS_SIZE,
                )
        out.meta_text = meta
        if header and not own:
            out.avatar_rect = QRect(MARGIN_X, by, AVATAR, AVATAR)
        out.height = max(bottom, by + (AVATAR if out.avatar_rect else 0)) + 1
        return out

    # ----- QStyledItemDelegate
    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        """Overrides QStyledItemDelegate.sizeHint: the height from ``_layout``, cached per
        message object and width."""
        return QSize(option.rect.width(), self.fast_layout(option, index).height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.paint: everything from the same ``_layout``."""
        msg = self.message(index)
        if msg is None:
            return
        lay = self.fast_layout(option, index)
        palette = option.palette
        text_font, name_font, meta_font = self._fonts(option.font)
        own = bool(index.data(MessageRoles.IsOwnRole))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.translate(option.rect.topLeft())
        if lay.day_rect is not None:
            self._paint_day(painter, lay, palette, meta_font)
        if lay.system_rect is not None:
            painter.setFont(meta_font)
            painter.setPen(theme.muted(palette))
            painter.drawText(
                lay.system_rect,
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
            )
        else:
            self._paint_bubble(painter, lay, palette, own, msg, name_font)
            self._paint_image(painter, lay, palette, msg, index)
            self._paint_text(painter, lay, palette, text_font)
            self._paint_status(painter, lay, palette, own, msg, meta_font)
        painter.restore()

    def _paint_day(self, p: QPainter, lay: RowLayout, palette: QPalette, font: QFont) -> None:
        assert lay.day_rect is not None
        fm = QFontMetrics(font)
        w = fm.horizontalAdvance(lay.day_label) + 24
        h = fm.height() + 8
        r = lay.day_rect
        pill = QRect(r.center().x() - w // 2, r.center().y() - h // 2 + 2, w, h)
        p.setPen(QPen(theme.subtle_border(palette), 1))
        y = pill.center().y()
        p.drawLine(MARGIN_X, y, pill.left() - 12, y)
        p.drawLine(pill.right() + 12, y, r.right() - MARGIN_X, y)
        p.setBrush(palette.color(QPalette.ColorRole.Base))
        p.drawRoundedRect(QRectF(pill), h / 2, h / 2)
        p.setFont(font)
        p.setPen(theme.muted(palette))
        p.drawText(pill, Qt.AlignmentFlag.AlignCenter, lay.day_label)

    def _paint_bubble(
        self,
        p: QPainter,
        lay: RowLayout,
        palette: QPalette,
        own: bool,
        msg: Message,
        name_font: QFont,
    ) -> None:
        if lay.avatar_rect is not None and msg.sender:
            colour = theme.name_colour(msg.sender, palette)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawEllipse(QRectF(lay.avatar_rect))
            p.setPen(QColor("white"))
            f = QFont(name_font)
            f.setPixelSize(15)
            p.setFont(f)
            p.drawText(lay.avatar_rect, Qt.AlignmentFlag.AlignCenter, msg.sender[:1].upper())
        if lay.bubble_rect is None:
            return
        fill = theme.own_bubble(palette) if own else theme.other_bubble(palette)
        failed = own and msg.status == DeliveryStatus.FAILED
        p.setPen(QPen(theme.DANGER, 1.2) if failed else Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawRoundedRect(QRectF(lay.bubble_rect).adjusted(0.5, 0.5, -0.5, -0.5), RADIUS, RADIUS)
        if lay.name_rect is not None and msg.sender:
            p.setFont(name_font)
            p.setPen(theme.name_colour(msg.sender, palette))
            p.drawText(
                lay.name_rect,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                msg.sender,
            )

    def _paint_image(
        self, p: QPainter, lay: RowLayout, palette: QPalette, msg: Message, index: AnyIndex
    ) -> None:
        if lay.image_rect is None:
            return
        rect = QRectF(lay.image_rect)
        clip = QPainterPath()
        clip.addRoundedRect(rect, RADIUS - 3, RADIUS - 3)
        pixmap = self.thumbnail(msg, index)
        p.save()
        p.setClipPath(clip)
        if pixmap is not None and not pixmap.isNull():
            p.drawPixmap(lay.image_rect, pixmap)
        else:
            # Placeholder of the right aspect until the decoder is done.
            p.fillRect(
                rect,
                theme.mix(
                    palette.color(QPalette.ColorRole.Base),
                    palette.color(QPalette.ColorRole.Text),
                    0.12,
                ),
            )
            p.setPen(theme.muted(palette))
            label = "Loading image…"
            server_key, _d, local_key, _l = _image_key(msg)
            if (server_key and self._decoder.failure(server_key)) or (
                not server_key and local_key and self._decoder.failure(local_key)
            ):
                label = "Image unavailable"
            elif not server_key and not local_key:
                label = msg.image.name if msg.image else "Image"
            p.drawText(lay.image_rect, Qt.AlignmentFlag.AlignCenter, label)
        p.restore()

    def _paint_text(self, p: QPainter, lay: RowLayout, palette: QPalette, font: QFont) -> None:
        if lay.text_layout is None or lay.text_origin is None:
            return
        p.setPen(theme.text(palette))
        p.setFont(font)
        if lay.links:
            # Link colour is applied at draw time so a palette change needs no relayout.
            selections = []
            for start, length, _url in lay.links:
                fr = QTextLayout.FormatRange()
                fr.start = start
                fr.length = length
                fmt = QTextCharFormat()
                fmt.setForeground(theme.link(palette))
                fmt.setFontUnderline(True)
                fr.format = fmt
                selections.append(fr)
            lay.text_layout.draw(p, lay.text_origin, selections)
        else:
            lay.text_layout.draw(p, lay.text_origin)

    def _paint_status(
        self, p: QPainter, lay: RowLayout, palette: QPalette, own: bool, msg: Message, font: QFont
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

    # ----- interaction
    def hit_test(
        self, option: QStyleOptionViewItem, index: AnyIndex, pos: QPoint
    ) -> tuple[str, Any]:
        """What is under ``pos`` (viewport coordinates): ("link", url), ("image", Message),
        ("retry", client_id), ("status", tooltip), ("bubble", Message) or ("", None)."""
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return "", None
        lay = self.layout_for(option, index)
        local = pos - option.rect.topLeft()
        own = bool(index.data(MessageRoles.IsOwnRole))
        if (own and msg.status == DeliveryStatus.FAILED and msg.retryable
                and lay.bubble_rect is not None):
            if lay.meta_rect is not None and lay.meta_rect.adjusted(-4, -4, 4, 4).contains(local):
                return "retry", msg.client_id
        if lay.image_rect is not None and lay.image_rect.contains(local):
            return "image", msg
        if lay.text_layout is not None and lay.text_origin is not None and lay.links:
            rel = QPointF(local) - lay.text_origin
            for i in range(lay.text_layout.lineCount()):
                line = lay.text_layout.lineAt(i)
                if (
                    line.y() <= rel.y() < line.y() + line.height()
                    and rel.x() <= line.naturalTextWidth()
                ):
                    cursor = line.xToCursor(rel.x())
                    for start, length, url in lay.links:
                        if start <= cursor < start + length:
                            return "link", url
        if lay.meta_rect is not None and lay.meta_rect.adjusted(-4, -4, 4, 4).contains(local):
            return "status", index.data(MessageRoles.ReceiptTextRole) or ""
        if lay.bubble_rect is not None and lay.bubble_rect.contains(local):
            return "bubble", msg
        return "", None

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        """Overrides QStyledItemDelegate.helpEvent: receipts on the status, dates on times."""
        if event is None or event.type() != QEvent.Type.ToolTip or not index.isValid():
            return super().helpEvent(event, view, option, index)
        kind, value = self.hit_test(option, index, event.pos())
        tip = ""
        msg = index.data(MessageRoles.ItemRole)
        if kind in ("status", "retry") and isinstance(msg, Message):
            receipt = str(index.data(MessageRoles.ReceiptTextRole) or "")
            when = QDateTime.fromMSecsSinceEpoch(msg.ts).toString("dddd d MMMM yyyy, HH:mm")
            tip = f"{receipt}\n{when}" if receipt else when
        elif kind == "link":
            tip = str(value)
        elif kind == "image" and isinstance(msg, Message) and msg.image is not None:
            tip = f"{msg.image.name} — click to open"
        if tip:
            QToolTip.showText(event.globalPos(), tip, view)
            return True
        QToolTip.hideText()
        return True

    def initStyleOption(self, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.initStyleOption: no focus/selection chrome."""
        super().initStyleOption(option, index)
        option.state &= ~QStyle.StateFlag.State_HasFocus
