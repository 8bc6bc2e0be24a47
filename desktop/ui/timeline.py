"""The timeline: a QListView over one room's MessageListModel, painted by MessageDelegate.

It keeps the view steady while history is prepended, follows the bottom when the user is
there, offers a "jump to latest" button when new messages arrive while scrolled up, asks
for older history when the top is reached, and turns clicks into links, image viewer
requests and retries. Drops of images are handed to whoever owns the composer.

The view never lays out a whole room: ``setModel()`` wraps the room's model in a
:class:`TimelineWindowModel` showing its newest rows. Reaching the top first grows that
window from memory; only when it already shows the oldest row in memory does the view
emit ``loadOlderRequested``. Jumping to (or sitting at) the bottom trims it back.
``visualRect()`` also accepts indexes of the room's own model.

A width change relays out every row at once (QListView's own Adjust mode only does so
when the height changes), so rows never keep the heights of the old width.

The floating "N new messages ↓" button and the sticky date pill are children of the view,
not of its viewport (see :mod:`desktop.ui.timeline_overlays`). What was really on screen
in the active window is reported through ``seenUpTo`` (see
:mod:`desktop.ui.timeline_read`), and ``set_unread()`` draws the "New messages" divider
and opens the room there when it is off-screen.

Keyboard: Up/Down/PageUp/PageDown/Home/End move a visible focus between messages, Enter
opens an image, the Menu key or Shift+F10 opens the message's actions, Ctrl+C copies.
Text can be selected partly with the mouse (drag, double-click for a word) and copied;
the selection is painted by the delegate, no widget per row.

Signals: ``loadOlderRequested()``, ``imageActivated(object message)``,
``retryRequested(str client_id)``, ``mimeDropped(object QMimeData)``,
``seenUpTo(str room, int message_id)``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QMenu,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageRoles, day_label
from desktop.models.timeline_window import WINDOW_ROWS, TimelineWindowModel
from desktop.state.types import DeliveryStatus, Message
from desktop.ui import theme
from desktop.ui.message_delegate import MessageDelegate
from desktop.ui.timeline_media import GifAnimations
from desktop.ui.timeline_overlays import TimelineOverlays
from desktop.ui.timeline_read import SeenTracker
from desktop.ui.timeline_select import TextSelection

logger = logging.getLogger(__name__)

LOAD_OLDER_THRESHOLD_PX = 160
_NAV_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
             Qt.Key.Key_Home, Qt.Key.Key_End)
BOTTOM_SLACK_PX = 24


def mime_has_droppable(mime: QMimeData | None) -> bool:
    """True if the drag carries files, an image, or bytes that might be one."""
    if mime is None:
        return False
    if mime.hasUrls() or mime.hasImage():
        return True
    return any(f.startswith("image/") or f == "application/octet-stream" for f in mime.formats())


class TimelineView(QListView):
    """Message list; see the module docstring."""

    loadOlderRequested = Signal()
    imageActivated = Signal(object)
    retryRequested = Signal(str)
    mimeDropped = Signal(object)
    seenUpTo = Signal(str, int)

    # set before __init__ runs: Qt may lay out from inside the base constructor
    _in_layout = False
    _relayout_again = False

    def __init__(self, decoder: ImageDecoder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stick = True
        self._anchor: QPersistentModelIndex | None = None
        self._anchor_top = 0
        self._adjusting = False
        self._new_below = 0
        self.more_history = True
        self.drop_hint = False
        self.window_rows = WINDOW_ROWS
        self._window: TimelineWindowModel | None = None
        self._window_source: QAbstractItemModel | None = None
        self.setObjectName("timeline")
        self.setAccessibleName("timeline")
        self.delegate = MessageDelegate(decoder, self)
        self.setItemDelegate(self.delegate)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # a click must never scroll (the row under the mouse would move); the keyboard
        # scrolls to the focused row itself (keyPressEvent)
        self.setAutoScroll(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.verticalScrollBar().setSingleStep(24)

        self.overlays = TimelineOverlays(self)
        self.jump_button = self.overlays.jump_button
        self.jump_button.clicked.connect(self.on_jump_button_clicked)
        self.seen = SeenTracker(self)
        self.seen.seenUpTo.connect(self.seenUpTo)
        self.selection = TextSelection(self)
        self.animations = GifAnimations(self)
        self.delegate.frame_source = self.animations.frame
        self._unread_pending = 0
        self._last_width = -1
        self._press_pos = QPoint()

        self.delegate.imageReady.connect(self.viewport().update)
        self.verticalScrollBar().valueChanged.connect(self.on_scrollbar_value_changed)
        self.verticalScrollBar().sliderMoved.connect(self.on_scrollbar_slider_moved)
        self.verticalScrollBar().rangeChanged.connect(self.on_scrollbar_range_changed)

    # ----- model wiring
    def setModel(self, model: QAbstractItemModel | None) -> None:  # noqa: N802
        """Overrides QListView.setModel: show a window of ``model``'s newest rows, rewire
        insert tracking and start at the bottom."""
        old = self.model()
        if old is not None:
            try:
                old.rowsAboutToBeInserted.disconnect(self.on_model_rows_about_to_be_inserted)
                old.rowsInserted.disconnect(self.on_model_rows_inserted)
            except (RuntimeError, TypeError):
                pass
        old_source = self._window_source or old
        if old_source is not None:
            try:
                old_source.dataChanged.disconnect(self.on_model_data_changed)
            except (RuntimeError, TypeError):
                pass
        old_window = self._window
        self._window = None
        shown = model
        if model is not None and not isinstance(model, TimelineWindowModel):
            self._window = TimelineWindowModel(model, self.window_rows, self)
            shown = self._window
        elif isinstance(model, TimelineWindowModel):
            self._window = model
        self._window_source = self._window.source() if self._window is not None else None
        super().setModel(shown)
        if (
            old_window is not None
            and old_window is not self._window
            and old_window.parent() is self
        ):
            old_window.deleteLater()
        self._stick_bottom = True
        self._anchor = None
        self._new_below = 0
        self.more_history = True
        self.overlays.hide_jump()
        self.selection.clear()
        self.animations.clear()
        self._set_marker(None)
        self._unread_pending = 0
        if shown is not None:
            shown.rowsAboutToBeInserted.connect(self.on_model_rows_about_to_be_inserted)
            shown.rowsInserted.connect(self.on_model_rows_inserted)
            # from the room's model: rows outside the window can change too
            (self._window_source or shown).dataChanged.connect(self.on_model_data_changed)
        self.scrollToBottom()
        self.seen.schedule()

    def image_messages(self) -> list[Message]:
        """The room's messages with an image, oldest first (the viewer steps through them)."""
        source = self.source_model()
        if source is None:
            return []
        getter = getattr(source, "message_at", None)
        out = []
        for row in range(source.rowCount()):
            msg = getter(row) if getter is not None else source.index(row, 0).data(
                MessageRoles.ItemRole)
            if isinstance(msg, Message) and (msg.image is not None or msg.local_image):
                out.append(msg)
        return out

    @property
    def window_model(self) -> TimelineWindowModel | None:
        """The window the view shows (None without a room)."""
        return self._window

    def source_model(self) -> QAbstractItemModel | None:
        """The room's model behind the window."""
        return self._window.source() if self._window is not None else self.model()

    def visualRect(self, index: QModelIndex | QPersistentModelIndex) -> QRect:  # noqa: N802
        """Overrides QListView.visualRect: also takes an index of the room's model (a row
        appended but not announced yet is announced first)."""
        window = self._window
        if window is not None and index.model() is self._window_source:
            source_row = index.row()
            index = window.mapFromSource(index)
            if not index.isValid() and source_row >= window.first + window.rowCount():
                window.release()  # asked about a row of the batch not announced yet
                index = window.mapFromSource(window.source().index(source_row, 0))
            if not index.isValid():
                return QRect()
        return super().visualRect(index)

    # ----- unread divider
    def set_unread(self, unread: int) -> None:
        """Draw "New messages" above the first of the room's ``unread`` messages and open
        the room there if it is off-screen (else stay at the bottom). Called as the room
        opens; with no rows yet, it is resolved when the first rows arrive."""
        source = self.source_model()
        finder = getattr(source, "first_unread_id", None)
        if source is None or finder is None or unread <= 0:
            self._unread_pending = 0
            return
        flush = getattr(source, "flush", None)
        if flush is not None:
            flush()  # the store may hold rows the model announces a moment later
        if source.rowCount() == 0:
            self._unread_pending = unread
            return
        self._unread_pending = 0
        message_id = finder(unread)
        self._set_marker(message_id)
        if message_id is None:
            return
        self._show_marker(message_id)

    def _set_marker(self, message_id: int | None) -> None:
        if self.delegate.unread_marker_id == message_id:
            return
        self.delegate.unread_marker_id = message_id
        self.delegate.invalidate()
        self.relayout()

    @property
    def unread_marker_id(self) -> int | None:
        """The message the "New messages" divider is drawn above (None: no divider)."""
        return self.delegate.unread_marker_id

    def _show_marker(self, message_id: int) -> None:
        source = self.source_model()
        window = self._window
        row = getattr(source, "row_for_id", lambda _i: None)(message_id)
        if row is None or source is None:
            return
        if window is not None and row < window.first:
            window.grow(window.first - row)
        index = self.model().index(row - (window.first if window is not None else 0), 0)
        self.scrollToBottom()
        if self.visualRect(index).top() >= 0:
            return  # the divider is on screen at the bottom: stay there
        self._stick_bottom = False
        self._adjusting = True
        try:
            self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        finally:
            self._adjusting = False
        self._anchor = None
        if not self.is_at_bottom():
            self.overlays.show_jump(0)
        self.seen.schedule()

    def _reached_top(self) -> None:
        """The user is at the top: show older rows from memory, else ask for history."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        window = self._window
        if window is not None and not window.at_source_top():
            window.grow()
            return
        if self.more_history:
            self.loadOlderRequested.emit()

    def _can_go_older(self) -> bool:
        window = self._window
        return self.more_history or (window is not None and not window.at_source_top())

    @property
    def _stick_bottom(self) -> bool:
        """Following the newest message (the window then trims its top as rows arrive)."""
        return self._stick

    @_stick_bottom.setter
    def _stick_bottom(self, on: bool) -> None:
        self._stick = on
        if self._window is not None:
            self._window.follow_latest = on

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.maximum() - bar.value() <= BOTTOM_SLACK_PX

    def on_model_rows_about_to_be_inserted(
        self, _parent: QModelIndex, _first: int, _last: int
    ) -> None:
        if self._stick_bottom or self._anchor is not None:
            return
        # Remember which row is at the top of the viewport and where: after the insert
        # (history prepended above, or new messages below) that row stays put.
        index = self.indexAt(QPoint(self.viewport().width() // 2, 1))
        if index.isValid():
            self._anchor = QPersistentModelIndex(index)
            self._anchor_top = self.visualRect(index).top()

    def on_model_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        """A row's data (or its neighbours) changed: its cached layout is stale."""
        model = top_left.model()
        if model is None:
            return
        for row in range(top_left.row(), bottom_right.row() + 1):
            msg = self.delegate.message(model.index(row, 0))
            if msg is not None:
                self.delegate.forget(msg)

    def on_model_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        model = self.model()
        if model is None:
            return
        self.seen.schedule()
        if self._unread_pending:
            self.set_unread(self._unread_pending)
        appended = last == model.rowCount() - 1 and first > 0
        if appended and not self._stick_bottom:
            others = 0
            for row in range(first, last + 1):
                if not model.index(row, 0).data(MessageRoles.IsOwnRole):
                    others += 1
            if others:
                self._new_below += others
                self.overlays.show_jump(self._new_below)
        if appended and self._stick_bottom:
            # No scrollToBottom() here: it would lay out at once for every batch; the
            # view's delayed layout ends in updateGeometries(), which pins the bottom.
            pass

    def _restore_anchor(self) -> None:
        if self._anchor is None:
            return
        if not self._anchor.isValid():
            self._anchor = None
            return
        index = (
            self.model().index(self._anchor.row(), 0) if self.model() is not None else QModelIndex()
        )
        delta = self.visualRect(index).top() - self._anchor_top
        if delta:
            self._adjusting = True
            try:
                bar = self.verticalScrollBar()
                bar.setValue(bar.value() + delta)
            finally:
                self._adjusting = False

    def updateGeometries(self) -> None:  # noqa: N802
        """Overrides QListView.updateGeometries: re-apply the scroll anchor after layout."""
        super().updateGeometries()
        if self._stick_bottom:
            self._adjusting = True
            try:
                self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())
            finally:
                self._adjusting = False
        else:
            self._restore_anchor()

    def on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_bottom:
            self._adjusting = True
            try:
                self.verticalScrollBar().setValue(maximum)
            finally:
                self._adjusting = False
        else:
            self._restore_anchor()

    def on_scrollbar_value_changed(self, value: int) -> None:
        if not self._adjusting:
            self._stick_bottom = self.is_at_bottom()
            self._anchor = None
            self.overlays.show_date(self._top_day())
        self.seen.schedule()
        self.animations.schedule()
        if self.is_at_bottom():
            self._new_below = 0
            self.overlays.hide_jump()
        elif (
            not self.jump_button.isVisible()
            and self.verticalScrollBar().maximum() - value > self.viewport().height()
        ):
            self.overlays.show_jump(self._new_below)
        if value <= LOAD_OLDER_THRESHOLD_PX and not self._adjusting and self._can_go_older():
            self._reached_top()

    def on_scrollbar_slider_moved(self, _value: int) -> None:
        self.overlays.show_date(self._top_day())

    def _top_day(self) -> str:
        """The day of the message at the top of the viewport ("Today", "Mon 24 Nov")."""
        index = self.indexAt(QPoint(self.viewport().width() // 2, 2))
        ts = index.data(MessageRoles.TimestampRole) if index.isValid() else None
        return day_label(ts) if isinstance(ts, int) else ""

    def scroll_to_latest(self) -> None:
        self._stick_bottom = True
        self._anchor = None
        self._new_below = 0
        self.overlays.hide_jump()
        if self._window is not None:
            self._window.release()
            self._window.trim(self.window_rows)
        self.scrollToBottom()

    def on_jump_button_clicked(self) -> None:
        self.scroll_to_latest()

    @property
    def new_below(self) -> int:
        return self._new_below

    # ----- QWidget / QAbstractItemView overrides
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Overrides QListView.resizeEvent: a new width relays out every row at once.

        QListView's Adjust mode relays out only when the size in the flow direction (the
        height) changes, and defers it: after a width-only change the rows would keep the
        heights and positions of the old width (overlapping or clipped bubbles).
        """
        stick = self._stick_bottom
        anchor = None
        if not stick:
            top = self.indexAt(QPoint(self.viewport().width() // 2, 1))
            if top.isValid():
                anchor = (QPersistentModelIndex(top), self.visualRect(top).top())
        super().resizeEvent(event)
        self.overlays.place()
        width = self.viewport().width()
        if width != self._last_width:
            self._last_width = width
            if self._in_layout:
                # the scroll bar came or went during a layout pass: that pass measured
                # rows at the old width, so lay out again once it is done
                self._relayout_again = True
            else:
                self.relayout()
            if anchor is not None and anchor[0].isValid():
                index = self.model().index(anchor[0].row(), 0)
                delta = self.visualRect(index).top() - anchor[1]
                if delta:
                    self._adjusting = True
                    try:
                        bar = self.verticalScrollBar()
                        bar.setValue(bar.value() + delta)
                    finally:
                        self._adjusting = False
        if stick:
            self.scrollToBottom()
        self.seen.schedule()

    def relayout(self) -> None:
        """Lay every row out again now (the delegate's caches are keyed by width)."""
        if self.model() is None:
            return
        self.doItemsLayout()

    def doItemsLayout(self) -> None:  # noqa: N802
        """Overrides QListView.doItemsLayout: a width change inside it means once more."""
        self._in_layout = True
        try:
            super().doItemsLayout()
        finally:
            self._in_layout = False
        for _ in range(2):  # the scroll bar can appear, then the narrower rows fit again
            if not self._relayout_again:
                break
            self._relayout_again = False
            self._in_layout = True
            try:
                super().doItemsLayout()
            finally:
                self._in_layout = False

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        """Overrides QWidget.changeEvent: window activation (reads) and theme/font changes."""
        super().changeEvent(event)
        kind = event.type()
        if kind in (QEvent.Type.PaletteChange, QEvent.Type.FontChange,
                      QEvent.Type.StyleChange):
            if kind == QEvent.Type.PaletteChange:
                self.overlays.apply_palette()
            self.delegate.invalidate()
            self.relayout()

    def event(self, event: QEvent) -> bool:
        """Overrides QAbstractItemView.event: the window becoming active (children get
        WindowActivate, not ActivationChange) may make what is on screen seen."""
        if event.type() == QEvent.Type.WindowActivate:
            self.seen.schedule()
        return super().event(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """Overrides QWidget.showEvent: rows shown now may count as seen."""
        super().showEvent(event)
        self.seen.schedule()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        """Overrides QListView.paintEvent: a hint instead of an empty white page."""
        super().paintEvent(event)
        if self.drop_hint:
            self._paint_drop_hint()
            return
        model = self.model()
        if model is not None and model.rowCount() > 0:
            return
        hint = (
            "No messages yet. Say hello!"
            if model is not None
            else "Pick a room or a person on the left."
        )
        painter = QPainter(self.viewport())
        painter.setPen(theme.muted(self.palette()))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, hint)
        painter.end()

    def _paint_drop_hint(self) -> None:
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.viewport().rect()).adjusted(12, 12, -12, -12)
        fill = QColor(theme.ACCENT)
        fill.setAlpha(28)
        painter.setBrush(fill)
        pen = QPen(theme.ACCENT, 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(area, 12, 12)
        font = painter.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        painter.setFont(font)
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "Drop images to attach them")
        painter.end()

    def _set_drop_hint(self, on: bool) -> None:
        if self.drop_hint != on:
            self.drop_hint = on
            self.viewport().update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        """Overrides QListView.dragLeaveEvent: hide the drop hint."""
        self._set_drop_hint(False)
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.wheelEvent: scrolling up at the top loads more."""
        super().wheelEvent(event)
        bar = self.verticalScrollBar()
        if event.angleDelta().y() > 0 and bar.value() == bar.minimum() and self._can_go_older():
            self._reached_top()

    def option_for(self, index: QModelIndex) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = self.visualRect(index)
        return option

    def hit(self, pos: QPoint) -> tuple[QModelIndex, str, object]:
        """(index, kind, value) of what is at viewport position ``pos``."""
        index = self.indexAt(pos)
        if not index.isValid():
            return index, "", None
        kind, value = self.delegate.hit_test(self.option_for(index), index, pos)
        return index, kind, value

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mousePressEvent: a press on text starts a selection."""
        self._set_focus_ring(False)
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            _index, kind, _value = self.hit(pos)
            self._press_pos = pos
            if kind not in ("link", "image", "retry"):
                self.selection.press(pos)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.mouseDoubleClickEvent: select the word."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.selection.select_word(event.position().toPoint())
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mouseMoveEvent: extend a selection; a hand over links."""
        pos = event.position().toPoint()
        if self.selection.dragging and event.buttons() & Qt.MouseButton.LeftButton:
            self.selection.move(pos)
            self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
            return
        _index, kind, _value = self.hit(pos)
        if kind in ("link", "image", "retry"):
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        elif kind == "bubble" and self.delegate.text_cursor_at(
            self.option_for(_index), _index, pos
        ) is not None:
            self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
        else:
            self.viewport().unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Overrides QListView.mouseReleaseEvent: open links/images, retry failed sends
        (a drag that selected text opens nothing)."""
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position().toPoint()
            dragged = (pos - self._press_pos).manhattanLength() > 3
            self.selection.release()
            if not dragged:
                if not self.selection.text():
                    self.selection.clear()
                _index, kind, value = self.hit(pos)
                if kind == "link" and isinstance(value, str):
                    QDesktopServices.openUrl(QUrl(value))
                elif kind == "image":
                    self.imageActivated.emit(value)
                elif kind == "retry" and isinstance(value, str):
                    self.retryRequested.emit(value)
        super().mouseReleaseEvent(event)

    # ----- keyboard
    def keyboardSearch(self, search: str) -> None:  # noqa: N802
        """Overrides QAbstractItemView.keyboardSearch: typing does not jump between rows."""

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.focusInEvent: focus lands on the newest row on screen."""
        if event.reason() in (Qt.FocusReason.TabFocusReason, Qt.FocusReason.BacktabFocusReason,
                              Qt.FocusReason.ShortcutFocusReason):
            self._set_focus_ring(True)
        model = self.model()
        if model is not None and model.rowCount() and not self._current_on_screen():
            row = self.seen.last_seen_row()
            index = model.index(row if row >= 0 else model.rowCount() - 1, 0)
            self.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.NoUpdate
            )
        super().focusInEvent(event)

    def _current_on_screen(self) -> bool:
        current = self.currentIndex()
        return current.isValid() and self.viewport().rect().intersects(self.visualRect(current))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides QAbstractItemView.keyPressEvent: Enter, the Menu key, Shift+F10, Ctrl+C."""
        key = event.key()
        current = self.currentIndex()
        if event.matches(QKeySequence.StandardKey.Copy):
            if not self.selection.copy() and current.isValid():
                text = self._row_text(current)
                if text:
                    QGuiApplication.clipboard().setText(text)
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self.selection.text():
            self.selection.clear()
            event.accept()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and current.isValid():
            msg = current.data(MessageRoles.ItemRole)
            if isinstance(msg, Message) and (msg.image is not None or msg.local_image):
                self.imageActivated.emit(msg)
            event.accept()
            return
        menu_key = key == Qt.Key.Key_Menu or (
            key == Qt.Key.Key_F10 and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        )
        if menu_key:
            self.open_context_menu_for(current)
            event.accept()
            return
        before = self.currentIndex()
        super().keyPressEvent(event)
        if self.currentIndex() != before or key in _NAV_KEYS:
            self._set_focus_ring(True)
            if self.currentIndex().isValid():
                self.scrollTo(self.currentIndex())

    def _set_focus_ring(self, on: bool) -> None:
        if self.delegate.show_focus != on:
            self.delegate.show_focus = on
            self.viewport().update()

    def open_context_menu_for(self, index: QModelIndex) -> QMenu | None:
        """The actions of the message at ``index``, popped up beside its bubble."""
        if not index.isValid():
            return None
        self.scrollTo(index)
        lay = self.delegate.layout_for(self.option_for(index), index)
        rect = lay.content_rect().translated(self.visualRect(index).topLeft())
        pos = QPoint(rect.left() + 12, min(rect.bottom(), self.viewport().height() - 4))
        menu = self.context_menu_at(pos, index)
        if menu is not None:
            menu.popup(self.viewport().mapToGlobal(pos))
        return menu

    def _row_text(self, index: QModelIndex) -> str:
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return ""
        if msg.kind == "system":
            return str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        return msg.text

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.contextMenuEvent: copy, open, retry (from the
        keyboard: for the focused message)."""
        if event.reason() == QContextMenuEvent.Reason.Keyboard:
            self.open_context_menu_for(self.currentIndex())
            return
        menu = self.context_menu_at(event.pos())
        if menu is not None:
            menu.popup(event.globalPos())

    def context_menu_at(self, pos: QPoint, index: QModelIndex | None = None) -> QMenu | None:
        """The context menu for the row at viewport ``pos`` (None over empty space)."""
        hit_index, kind, value = self.hit(pos)
        if index is None:
            index = hit_index
        elif hit_index != index:
            kind, value = "", None
        if not index.isValid():
            return None
        msg = index.data(MessageRoles.ItemRole)
        if not isinstance(msg, Message):
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        selected = self.selection.text() if self.selection.message is msg else ""
        if selected:
            copy_sel = QAction("Copy selection", menu)
            copy_sel.triggered.connect(
                lambda: QGuiApplication.clipboard().setText(selected)
            )
            menu.addAction(copy_sel)
        text = self._row_text(index)
        if text:
            copy = QAction("Copy text", menu)
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(text))
            menu.addAction(copy)
        if kind == "link" and isinstance(value, str):
            url = value
            copy_link = QAction("Copy link", menu)
            copy_link.triggered.connect(lambda: QGuiApplication.clipboard().setText(url))
            menu.addAction(copy_link)
        if msg.image is not None or msg.local_image:
            open_image = QAction("Open image", menu)
            open_image.triggered.connect(lambda: self.imageActivated.emit(msg))
            menu.addAction(open_image)
        if (
            msg.status == DeliveryStatus.FAILED
            and index.data(MessageRoles.IsOwnRole)
            and msg.client_id
        ):
            cid = msg.client_id
            retry = QAction("Retry sending", menu)
            retry.triggered.connect(lambda: self.retryRequested.emit(cid))
            menu.addAction(retry)
        if menu.isEmpty():
            menu.deleteLater()
            return None
        return menu

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        """Overrides QListView.dragEnterEvent: accept files and image data."""
        if mime_has_droppable(event.mimeData()):
            event.acceptProposedAction()
            self._set_drop_hint(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        """Overrides QListView.dragMoveEvent."""
        if mime_has_droppable(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Overrides QListView.dropEvent: hand the data to the composer's attachments."""
        mime = event.mimeData()
        self._set_drop_hint(False)
        if mime_has_droppable(mime):
            event.acceptProposedAction()
            self.mimeDropped.emit(mime)
        else:
            event.ignore()
