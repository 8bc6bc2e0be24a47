"""Geometry of one timeline row: every rectangle, computed in one function.

:func:`compute_layout` is the single source of a row's geometry; the delegate's
``paint()``, ``sizeHint()`` and hit testing all read its :class:`RowLayout`, so they can
never disagree. It depends only on its arguments (the message, the width, the font and the
few neighbour facts), which is what lets the delegate cache it by those inputs and makes a
width change a cache miss rather than a stale row.

Images keep their aspect ratio and are never scaled up; an image wide enough to carry a
caption fills its bubble edge to edge and the caption wraps to the image's width, so no
bubble colour shows beside the picture. A file message has a card of fixed height (icon,
name, status, actions; see :mod:`desktop.ui.file_bubble`), so its progress never changes
the row's height.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from PySide6.QtCore import QDateTime, QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextLayout

from desktop.state.types import Message
from desktop.ui.file_bubble import card_height, card_width
from desktop.ui.message_text import TextBlock, layout_text
from desktop.ui.reaction_chips import Chip, layout_chips

TextBlocker = Callable[..., TextBlock]  # (text, font, max_width, mentions=()) -> TextBlock

MARGIN_X = 18
AVATAR = 34
AVATAR_GAP = 10
PAD_X = 11
PAD_Y = 7
HEADER_GAP = 10
RUN_GAP = 3
DAY_H = 40
UNREAD_H = 30
META_GAP = 10
STATUS_SIZE = 15
MAX_BUBBLE = 640
THUMB_MAX_W = 320
THUMB_MAX_H = 300
# Narrower images sit inside a padded bubble instead of filling it (a caption under a
# 16 px icon would otherwise be squeezed to a letter a line).
MEDIA_MIN_W = 140
MEDIA_FRAME = 4
QUOTE_PAD = 4
QUOTE_MIN_W = 200
RADIUS = 10.0


@dataclass
class RowLayout:
    """Every rectangle of one row, relative to the row's top-left corner."""

    height: int
    day_rect: QRect | None = None
    day_label: str = ""
    unread_rect: QRect | None = None
    system_rect: QRect | None = None
    avatar_rect: QRect | None = None
    bubble_rect: QRect | None = None
    name_rect: QRect | None = None
    image_rect: QRect | None = None
    file_rect: QRect | None = None  # a file message's card (desktop.ui.file_bubble)
    text_origin: QPointF | None = None
    text_layout: QTextLayout | None = None
    links: list[tuple[int, int, str]] = field(default_factory=list)
    meta_rect: QRect | None = None
    status_rect: QRect | None = None
    meta_on_image: bool = False
    meta_text: str = ""
    own: bool = False
    quote_rect: QRect | None = None  # the quoted parent of a reply (protocol v2)
    muted_text: bool = False  # "Message deleted": drawn in the muted colour
    chips: list[Chip] = field(default_factory=list)
    boxes: list[tuple[str, QRectF]] = field(default_factory=list)  # code/quote/mention

    def content_rect(self) -> QRect:
        """The part of the row that is the message itself (for focus and selection)."""
        if self.bubble_rect is not None:
            return self.bubble_rect
        if self.system_rect is not None:
            return self.system_rect
        return QRect(0, 0, 1, self.height)


def ts_text(ts: int) -> str:
    """"HH:mm" of a timestamp in milliseconds, local time."""
    return _minute_text(ts // 60_000)


@lru_cache(maxsize=4096)
def _minute_text(minute: int) -> str:
    return QDateTime.fromMSecsSinceEpoch(minute * 60_000).toString("HH:mm")


def fit_size(width: int, height: int, max_w: int, max_h: int) -> QSize:
    """Scale (width, height) down into max_w x max_h keeping the aspect ratio.

    Never scales up (a 16 x 16 icon stays 16 x 16) and never pads to a minimum (a
    3000 x 300 banner is 320 x 32, not a distorted 320 x 48). An unknown size gets a 4:3
    placeholder.
    """
    if width <= 0 or height <= 0:
        width, height = 4, 3
        scale = min(max_w / width, max_h / height) * 0.8
    else:
        scale = min(1.0, max_w / width, max_h / height)
    return QSize(max(1, round(width * scale)), max(1, round(height * scale)))


@dataclass(frozen=True)
class Fonts:
    """The fonts of a row and their metrics, derived once per view font."""

    text: QFont
    name: QFont
    meta: QFont
    name_fm: QFontMetrics
    meta_fm: QFontMetrics
    key: str = ""
    _widths: dict[tuple[bool, str], int] = field(default_factory=dict)

    def advance(self, text: str, name: bool = False) -> int:
        """The width of a time or a name (few distinct ones: cached)."""
        key = (name, text)
        width = self._widths.get(key)
        if width is None:
            if len(self._widths) > 4096:
                self._widths.clear()
            fm = self.name_fm if name else self.meta_fm
            width = self._widths[key] = fm.horizontalAdvance(text)
        return width


def max_bubble_for(width: int, own: bool) -> int:
    """The widest a bubble may be in a row ``width`` wide."""
    left_col = MARGIN_X + (0 if own else AVATAR + AVATAR_GAP)
    return max(120, min(MAX_BUBBLE, int((width - MARGIN_X - left_col) * (0.78 if own else 0.85))))


def height_key(kind: str, width: int, own: bool) -> int:
    """What a row's height depends on of the width: two widths with the same key give
    the same height (bubbles stop growing at MAX_BUBBLE, so every wide window agrees)."""
    return width if kind == "system" else max_bubble_for(width, own)


_FONTS: dict[str, Fonts] = {}


def row_fonts(base: QFont) -> Fonts:
    """:func:`fonts` with metrics, cached by the font's key (a layout pass asks per row)."""
    key = base.key()
    found = _FONTS.get(key)
    if found is None:
        text_font, name_font, meta_font = fonts(base)
        found = Fonts(text_font, name_font, meta_font, QFontMetrics(name_font),
                      QFontMetrics(meta_font), key)
        if len(_FONTS) > 16:
            _FONTS.clear()
        _FONTS[key] = found
    return found


def fonts(base: QFont) -> tuple[QFont, QFont, QFont]:
    """(text, name, meta) fonts derived from the view's font."""
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


def compute_layout(
    msg: Message,
    width: int,
    own: bool,
    header: bool,
    day: str,
    thumb: QSize | None,
    meta: str,
    display: str,
    font: QFont,
    unread_divider: bool = False,
    text_block: TextBlocker = layout_text,
    known_fonts: Fonts | None = None,
) -> RowLayout:
    """Compute every rectangle of one row; the single source for paint and sizeHint.

    ``text_block(text, font, max_width)`` lays the text out (the delegate passes its
    cache, which reuses a block when the new width does not change its lines);
    ``known_fonts`` is ``row_fonts(font)`` when the caller has it already.
    """
    f = known_fonts if known_fonts is not None else row_fonts(font)
    text_font = f.text
    meta_fm = f.meta_fm
    out = RowLayout(height=0, own=own)
    y = 0
    if day:
        out.day_rect = QRect(0, y, width, DAY_H)
        out.day_label = day
        y += DAY_H
    if unread_divider:
        out.unread_rect = QRect(0, y, width, UNREAD_H)
        y += UNREAD_H
    if msg.kind == "system":
        return _system_layout(out, y, width, display, meta_fm)

    y += HEADER_GAP if header else RUN_GAP
    show_name = header and not own
    left_col = MARGIN_X + (0 if own else AVATAR + AVATAR_GAP)
    max_bubble = max_bubble_for(width, own)
    status_w = STATUS_SIZE + 3 if own else 0
    meta_w = f.advance(meta) + status_w
    meta_h = meta_fm.height()
    name_h = f.name_fm.height() + 2 if show_name else 0
    name_w = f.advance(msg.sender or "", name=True) if show_name else 0

    img_size: QSize | None = None
    if thumb is not None:
        img_size = fit_size(
            thumb.width(),
            thumb.height(),
            min(THUMB_MAX_W, max_bubble - 2 * MEDIA_FRAME),
            THUMB_MAX_H,
        )
    full_bleed = img_size is not None and img_size.width() >= MEDIA_MIN_W
    card: QSize | None = None
    if img_size is None and msg.file is not None and not msg.deleted:
        card = QSize(card_width(max_bubble - 2 * PAD_X), card_height(f.name_fm, meta_fm))

    # Text (the message text, or an image caption), plain; a full-bleed image sets the
    # width the caption wraps to.
    if full_bleed and img_size is not None:
        inner_max = img_size.width() + 2 * MEDIA_FRAME - 2 * PAD_X
    else:
        inner_max = max_bubble - 2 * PAD_X
    body = "Message deleted" if msg.deleted else msg.shown_text
    out.muted_text = msg.deleted
    mentions = () if msg.deleted else (msg.mentions or ())
    block = text_block(body, text_font, inner_max, mentions) if body else None
    if block is not None:
        out.text_layout = block.layout
        out.links = block.links
        out.boxes = block.boxes

    # Where the time goes: beside the last text line if it fits (never beside a
    # right-to-left one, which ends on the right), else its own line; on an image
    # without caption it floats over the image's corner.
    meta_own_line = False
    if block is not None:
        if not block.last_line_rtl and block.last_line_width + META_GAP + meta_w <= inner_max:
            inner_w = max(block.width, block.last_line_width + META_GAP + meta_w)
        else:
            inner_w = max(block.width, meta_w)
            meta_own_line = True
    else:
        inner_w = meta_w
    inner_w = max(inner_w, name_w)
    quote_h = 0
    if msg.reply_to is not None and not msg.deleted:
        quote_h = f.name_fm.height() + meta_fm.height() + QUOTE_PAD * 2
        inner_w = max(inner_w, min(QUOTE_MIN_W, max_bubble - 2 * PAD_X))

    if full_bleed and img_size is not None:
        bubble_w = img_size.width() + 2 * MEDIA_FRAME
    elif img_size is not None:
        bubble_w = max(img_size.width(), int(inner_w)) + 2 * PAD_X
    elif card is not None:
        bubble_w = max(card.width(), int(inner_w)) + 2 * PAD_X
    else:
        bubble_w = int(inner_w) + 2 * PAD_X + 1
    bubble_w = min(bubble_w, max_bubble)
    bx = width - MARGIN_X - bubble_w if own else left_col
    by = y
    cy = by
    bottom = by
    if show_name:
        out.name_rect = QRect(bx + PAD_X, cy + PAD_Y - 1, bubble_w - 2 * PAD_X, name_h)
        cy += PAD_Y + name_h - 2
    if quote_h:
        top = cy + (2 if show_name else PAD_Y)
        out.quote_rect = QRect(bx + PAD_X, top, bubble_w - 2 * PAD_X, quote_h)
        cy = top + quote_h
    if img_size is not None:
        if full_bleed:
            top = cy + (2 if show_name else MEDIA_FRAME)
            ix = bx + MEDIA_FRAME
        else:
            top = cy + (2 if show_name else PAD_Y)
            ix = bx + PAD_X
        out.image_rect = QRect(ix, top, img_size.width(), img_size.height())
        cy = top + img_size.height()
        if block is None:
            if full_bleed:
                out.meta_on_image = True
                bottom = cy + MEDIA_FRAME
            else:
                bottom = cy + 2 + meta_h + PAD_Y
        else:
            cy += 2
    if card is not None:
        top = cy + (2 if show_name else PAD_Y + 2)
        out.file_rect = QRect(bx + PAD_X, top, card.width(), card.height())
        cy = top + card.height()
        if block is None:
            bottom = cy + PAD_Y  # the time shares the card's last line, on the right
        else:
            cy += 4
    if block is not None:
        cy += PAD_Y if img_size is None and card is None and not show_name else 2
        out.text_origin = QPointF(bx + PAD_X, cy)
        cy += int(block.height + 0.999)
        if meta_own_line:
            cy += meta_h
        bottom = cy + PAD_Y
    elif img_size is None and card is None:
        bottom = cy + 2 * PAD_Y + meta_h
    out.bubble_rect = QRect(bx, by, bubble_w, bottom - by)
    _place_meta(out, meta, meta_w, meta_h, own, bx + bubble_w, bottom)
    if header and not own:
        out.avatar_rect = QRect(MARGIN_X, by, AVATAR, AVATAR)
    if msg.reactions:
        chips_left = width - MARGIN_X - max_bubble if own else left_col
        out.chips, bottom = layout_chips(msg.reactions, meta_fm, chips_left,
                                         chips_left + max_bubble, bottom, own)
    out.height = max(bottom, by + (AVATAR if out.avatar_rect else 0)) + 1
    return out


def _system_layout(
    out: RowLayout, y: int, width: int, display: str, meta_fm: QFontMetrics
) -> RowLayout:
    """A centred grey line; long ones (a new topic) wrap instead of being clipped."""
    y += 6
    avail = max(40, width - 2 * MARGIN_X - 24)
    flags = int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap)
    needed = meta_fm.boundingRect(QRect(0, 0, avail, 100_000), flags, display)
    line_w = min(avail, needed.width()) + 24
    h = needed.height() + 8
    out.system_rect = QRect((width - line_w) // 2, y, line_w, h)
    out.height = y + h + 6
    return out


def _place_meta(
    out: RowLayout, meta: str, meta_w: int, meta_h: int, own: bool, right: int, bottom: int
) -> None:
    """Time (and status) at the bubble's bottom right, or over the image's corner."""
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
        mr.moveBottomRight(QPoint(right - PAD_X, bottom - PAD_Y + 1))
        out.meta_rect = mr
        if own:
            out.status_rect = QRect(
                mr.right() - STATUS_SIZE + 1,
                mr.center().y() - STATUS_SIZE // 2,
                STATUS_SIZE,
                STATUS_SIZE,
            )
    out.meta_text = meta
