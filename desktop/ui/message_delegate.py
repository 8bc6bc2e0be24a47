"""The one delegate that paints every timeline row: no widget per message.

Geometry comes from :func:`desktop.ui.message_layout.compute_layout`, painting from
:mod:`desktop.ui.message_paint`, text and links from :mod:`desktop.ui.message_text`; this
class holds the caches and answers Qt (``sizeHint``, ``paint``); what is under the mouse
and the tooltips are :mod:`desktop.ui.message_hits` (its mixin).

Layouts are cached per message identity, width and the few inputs that change geometry,
so a width change is a cache miss, never a stale row. ``sizeHint()`` is what a QListView
calls for every row of every layout pass (each insert during a flood), so it and
``paint()`` use a cheaper cache first: the layout per message object and width, with no
role lookups. The view calls ``forget()`` for rows whose data changed (the model emits
dataChanged for a status change and for a row whose neighbours changed), and
``invalidate()`` when something every row depends on changed.

Text is plain text laid out with QTextLayout: never rich text or HTML. The only formats
are the link ranges found in it and the user's own text selection.

A file message's card (:mod:`desktop.ui.file_bubble`) is painted from ``file_state``
(set by the window's file controller; without one the card offers Download and Open),
and a click on one of its actions is answered in ``editorEvent`` (the view calls it for
every click on a row) with ``fileActionRequested``.

Signals: ``imageReady()`` when a thumbnail finished decoding (the view repaints);
``fileActionRequested(object message, str action)`` ("download", "open", "folder",
"cancel", "resume", "retry").
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyleOptionViewItem,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageRoles
from desktop.models.row_sync import AnyIndex
from desktop.state.emoji_data import QUICK
from desktop.state.types import DeliveryStatus, Message
from desktop.ui import message_paint
from desktop.ui.file_bubble import (
    FileView,
    paint_file_card,
)
from desktop.ui.message_hits import MessageHitsMixin
from desktop.ui.message_layout import (
    THUMB_MAX_W,
    Fonts,
    RowLayout,
    compute_layout,
    fonts,
    height_key,
    row_fonts,
    ts_text,
)
from desktop.ui.message_quote import paint_quote
from desktop.ui.message_text import TextBlockCache
from desktop.ui.reaction_chips import paint_chips, paint_quick_bar, quick_bar

logger = logging.getLogger(__name__)


# Rows laid out at once are the window (150-300, more after scrolling up) plus a grow
# step or two; every cached layout is ~10 objects a full garbage collection has to walk,
# so keep this modest, yet above the rows a long scroll-back keeps laid out.
CACHE_LIMIT = 2500


def _image_key(msg: Message) -> tuple[str | None, bytes | None, str | None, bytes | None]:
    """(thumbnail key, bytes) from the server and (local echo key, bytes) if any."""
    server_key = server_data = local_key = local_data = None
    if msg.image is not None and msg.image.thumb:
        server_key, server_data = f"{msg.image.id}@thumb", msg.image.thumb
    if msg.local_image and msg.client_id:
        local_key, local_data = f"local:{msg.client_id}@thumb", msg.local_image
    return server_key, server_data, local_key, local_data


class MessageDelegate(MessageHitsMixin):
    """Paints one message per row; see the module docstring."""

    imageReady = Signal()
    fileActionRequested = Signal(object, str)

    def __init__(self, decoder: ImageDecoder, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._decoder = decoder
        self._texts = TextBlockCache()
        # id(message) -> (message, width, layout): the fast path (see module doc)
        self._rows: dict[int, tuple[Message, int, RowLayout]] = {}
        # (id(message), generation, height key) -> (message, height): sizeHint's cache,
        # a few widths' worth (narrow and wide) per row; id(message) -> (message, own,
        # generation), where forget() starts a new generation
        self._heights: dict[tuple[int, int, int], tuple[Message, int]] = {}
        self._owners: dict[int, tuple[Message, bool, int, int]] = {}  # ... and last height
        # set by the view during a resize: rows outside this range may keep their last
        # height for now (they are listed in ``estimated`` until measured)
        self.exact_rows: range | None = None
        self.estimated: dict[int, Message] = {}
        self._generation = itertools.count()
        self._rows_font: QFont | None = None
        self._fonts: Fonts | None = None
        self._waiting: dict[str, list[QPersistentModelIndex]] = {}
        self.hover_link: str | None = None
        self.me: str | None = None  # the signed-in user: their reaction chips are tinted
        # the message under the mouse gets the quick-reaction bar (and the emoji under it)
        self.hover_msg: Message | None = None
        self.hover_quick: str | None = None
        # the message above which "New messages" is drawn (see set_unread_marker)
        self.unread_marker_id: int | None = None
        # (message, start, length) of the user's text selection, painted highlighted
        self.selection: tuple[Message, int, int] | None = None
        # the view's animation frames for GIFs on screen (None: thumbnails only)
        # the view shows the keyboard focus ring (not after a mouse click)
        self.show_focus = False
        self.flash_id: int | None = None  # a message lit up for a moment (scrolled to)
        self.frame_source: Callable[[Message], QPixmap | None] | None = None
        # (message, own) -> what its file card shows and offers (desktop.ui.file_actions)
        self.file_state: Callable[[Message, bool], FileView] | None = None
        self.hover_file_action: tuple[Message, str] | None = None
        self.file_press: QPoint | None = None  # where the mouse went down (set on press)
        decoder.ready.connect(self.on_decoder_ready)
        decoder.failed.connect(self.on_decoder_ready)

    # ----- images
    def _thumb_size(self, msg: Message) -> QSize | None:
        if msg.deleted:
            return None
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
        self._owners.pop(id(msg), None)  # its heights (keyed by generation) go stale
        self.estimated.pop(id(msg), None)

    def _meta_text(self, msg: Message, own: bool) -> str:
        if own and msg.status == DeliveryStatus.FAILED:
            return "Not sent · Retry" if msg.retryable else "Not sent"
        if (msg.edited_ts or msg.pending_edit is not None) and not msg.deleted:
            return "edited " + ts_text(msg.ts)
        return ts_text(msg.ts)

    def row_width(self, option: QStyleOptionViewItem) -> int:
        """The width rows are laid out at: the view's viewport, for every caller.

        Qt hands ``sizeHint`` an option whose rect is the whole view's (scroll bar
        included) while ``paint`` gets the row's visual rect (the viewport's width): laid
        out from those, a row would be measured at one width and drawn at another, and a
        wrap that differs by one line garbles the rows below it.
        """
        view = self.parent()
        if isinstance(view, QAbstractItemView):
            width = view.viewport().width()
            if width > 0:
                return width
        return option.rect.width() if option.rect.width() > 0 else 600

    def fast_layout(
        self,
        option: QStyleOptionViewItem,
        index: AnyIndex,
        msg: Message | None = None,
        width: int = 0,
    ) -> RowLayout:
        """The row's :class:`RowLayout` at the viewport's width, cached per message object
        and width (what sizeHint and paint use: a QListView asks for every row on each
        layout pass). ``msg`` and ``width`` save the lookups when the caller has them."""
        if msg is None:
            msg = self.message(index)
            if msg is None:
                return RowLayout(height=1)
        if not width:
            width = self.row_width(option)
        font = option.font
        if self._rows_font is None or font != self._rows_font:
            self._rows.clear()
            self._heights.clear()
            self._owners.clear()
            self._rows_font = QFont(font)
            self._fonts = row_fonts(font)
        ident = id(msg)
        hit = self._rows.get(ident)
        if hit is not None and hit[0] is msg and hit[1] == width:
            return hit[2]
        lay = self._compute(index, width, font)
        self._rows[ident] = (msg, width, lay)
        if len(self._rows) > CACHE_LIMIT:
            del self._rows[next(iter(self._rows))]
        return lay

    @staticmethod
    def _inputs(index: AnyIndex) -> tuple[Any, bool, bool, str, str]:
        """(message, own, header, day, display text) of a row, in one call when the model
        offers ``layout_inputs`` (a layout pass asks for every row)."""
        getter = getattr(index.model(), "layout_inputs", None)
        if getter is not None:
            found = getter(index.row())
            if found is not None:
                return found  # type: ignore[no-any-return]
        return (
            index.data(MessageRoles.ItemRole),
            bool(index.data(MessageRoles.IsOwnRole)),
            bool(index.data(MessageRoles.ShowHeaderRole)),
            index.data(MessageRoles.DaySeparatorRole) or "",
            str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
        )

    def _compute(self, index: AnyIndex, width: int, font: QFont) -> RowLayout:
        msg, own, header, day, display = self._inputs(index)
        if not isinstance(msg, Message):
            return RowLayout(height=1)
        unread = msg.id is not None and msg.id == self.unread_marker_id
        if self._fonts is None:  # (fast_layout renews it when the view's font changes)
            self._fonts = row_fonts(font)
        return compute_layout(
            msg, width, own, header, day, self._thumb_size(msg), self._meta_text(msg, own),
            display, font, unread, self._texts, self._fonts,
        )

    def layout_for(self, option: QStyleOptionViewItem, index: AnyIndex) -> RowLayout:
        """The row's :class:`RowLayout` at the viewport's width (hit tests, tooltips)."""
        return self.fast_layout(option, index)

    def invalidate(self) -> None:
        """Drop every cached layout (something all rows depend on changed)."""
        self._rows.clear()
        self._heights.clear()
        self._owners.clear()
        self.estimated.clear()
        self._texts.clear()

    # ----- QStyledItemDelegate
    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        """Overrides QStyledItemDelegate.sizeHint: the height from the row's layout, cached
        per message object and :func:`height_key` of the width (a resize between two wide
        windows keeps every height; only rows painted get a layout at the new width)."""
        width = self.row_width(option)
        msg = self.message(index)
        if msg is None:
            return QSize(width, 1)
        ident = id(msg)
        known = self._owners.get(ident)
        if known is not None and known[0] is msg:
            hit = self._heights.get((ident, known[2], height_key(msg.kind, width, known[1])))
            if hit is not None and hit[0] is msg:
                return QSize(width, hit[1])
            near = self.exact_rows
            if near is not None and index.row() not in near:
                # far from the viewport during a resize: the last height stands in until
                # the view refines it (see TimelineView.resizeEvent)
                self.estimated[ident] = msg
                return QSize(width, known[3])
        lay = self.fast_layout(option, index, msg, width)
        gen = known[2] if known is not None and known[0] is msg else next(self._generation)
        self._owners[ident] = (msg, lay.own, gen, lay.height)
        self.estimated.pop(ident, None)
        self._heights[(ident, gen, height_key(msg.kind, width, lay.own))] = (msg, lay.height)
        if len(self._heights) > 8 * CACHE_LIMIT:  # small tuples: several widths per row
            del self._heights[next(iter(self._heights))]
        if len(self._owners) > CACHE_LIMIT:
            del self._owners[next(iter(self._owners))]
        return QSize(width, lay.height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.paint: everything from the same layout."""
        msg = self.message(index)
        if msg is None:
            return
        lay = self.fast_layout(option, index)
        if option.rect.height() != lay.height:
            # drawn at a height its layout does not have (a row measured while far away
            # and not refined yet): lay the view out again rather than clip or overlap
            self.forget(msg)
            model = index.model()
            if model is not None:
                self.sizeHintChanged.emit(model.index(index.row(), 0))
        palette = option.palette
        text_font, name_font, meta_font = fonts(option.font)
        own = bool(index.data(MessageRoles.IsOwnRole))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.translate(option.rect.topLeft())
        if lay.day_rect is not None:
            message_paint.paint_day(painter, lay, palette, meta_font)
        if lay.unread_rect is not None:
            message_paint.paint_unread(painter, lay, palette, meta_font)
        if lay.system_rect is not None:
            message_paint.paint_system(
                painter, lay, palette, meta_font, str(index.data(Qt.ItemDataRole.DisplayRole) or "")
            )
        else:
            mentioned = not own and bool(msg.mentions) and msg.mentions_user(self.me)
            message_paint.paint_bubble(painter, lay, palette, own, msg, name_font, mentioned)
            if lay.quote_rect is not None:
                paint_quote(painter, lay.quote_rect, palette, msg, name_font, meta_font)
            if lay.file_rect is not None:
                hover = (self.hover_file_action[1] if self.hover_file_action is not None
                         and self.hover_file_action[0] is msg else "")
                paint_file_card(painter, lay.file_rect, palette, msg,
                                self.file_view(msg, own), name_font, meta_font, hover)
            if lay.image_rect is not None:
                message_paint.paint_image(
                    painter, lay, palette, self.image_pixmap(msg, index), self._image_label(msg)
                )
            selection = self.selection[1:] if self.selection and self.selection[0] is msg else None
            message_paint.paint_text(painter, lay, palette, text_font, selection)
            message_paint.paint_status(painter, lay, palette, own, msg, meta_font)
            if lay.chips:
                paint_chips(painter, lay.chips, palette, meta_font, self.me)
            if msg is self.hover_msg and lay.bubble_rect is not None and not msg.deleted:
                paint_quick_bar(painter, quick_bar(lay.bubble_rect, own, QUICK), palette,
                                text_font, self.hover_quick)
        if self.flash_id is not None and msg.id == self.flash_id:
            message_paint.paint_flash(painter, lay)
        if self.show_focus and option.state & QStyle.StateFlag.State_HasFocus:
            message_paint.paint_focus(painter, lay)
        painter.restore()

    def image_pixmap(self, msg: Message, index: AnyIndex) -> QPixmap | None:
        """The frame to draw: the running animation's for a GIF on screen, else the thumbnail."""
        if self.frame_source is not None:
            frame = self.frame_source(msg)
            if frame is not None:
                return frame
        return self.thumbnail(msg, index)

    def _image_label(self, msg: Message) -> str:
        server_key, _d, local_key, _l = _image_key(msg)
        if (server_key and self._decoder.failure(server_key)) or (
            not server_key and local_key and self._decoder.failure(local_key)
        ):
            return "Image unavailable"
        if not server_key and not local_key:
            return msg.image.name if msg.image else "Image"
        return "Loading image…"

    def editorEvent(  # noqa: N802
        self,
        event: QEvent,
        model: QAbstractItemModel,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        """Overrides QStyledItemDelegate.editorEvent: a click (not a drag) on a file card's
        action emits ``fileActionRequested``."""
        if isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            if event.type() == QEvent.Type.MouseButtonPress:
                self.file_press = pos
            elif event.type() == QEvent.Type.MouseButtonRelease:
                pressed, self.file_press = self.file_press, None
                kind, value = self.hit_test(option, index, pos)
                if (kind == "file" and pressed is not None
                        and (pos - pressed).manhattanLength() <= 3):
                    self.fileActionRequested.emit(value[0], value[1])
                    return True
        return super().editorEvent(event, model, option, index)

    def initStyleOption(self, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.initStyleOption: no focus/selection chrome."""
        super().initStyleOption(option, index)
        option.state &= ~QStyle.StateFlag.State_HasFocus
