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
``retryRequested(str client_id)``, ``discardRequested(str client_id)``,
``mimeDropped(object QMimeData)``, ``seenUpTo(str room, int message_id)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QHideEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageRoles, day_label
from desktop.models.timeline_window import WINDOW_ROWS, TimelineWindowModel
from desktop.state.types import Message
from desktop.ui import theme
from desktop.ui.message_delegate import MessageDelegate
from desktop.ui.timeline_input import TimelineInputView
from desktop.ui.timeline_media import GifAnimations
from desktop.ui.timeline_overlays import TimelineOverlays
from desktop.ui.timeline_read import SeenTracker
from desktop.ui.timeline_select import TextSelection

logger = logging.getLogger(__name__)

LOAD_OLDER_THRESHOLD_PX = 160
REFINE_MARGIN_ROWS = 40
MAX_DIVIDER_ROWS = 1000
REFINE_BATCH_ROWS = 250
BOTTOM_SLACK_PX = 24


class TimelineView(TimelineInputView):
    """Message list; see the module docstring."""

    loadOlderRequested = Signal()
    seenUpTo = Signal(str, int)

    # set before __init__ runs: Qt may lay out from inside the base constructor
    _in_layout = False
    _relayout_again = False
    _refine_pending = False
    _user_scroll = False

    def __init__(self, decoder: ImageDecoder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.menu_extenders = []
        self.key_handlers = []
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
        self.setAccessibleName("Messages")
        self.setAccessibleDescription(
            "Up and Down move between messages, Enter opens an image, the Menu key or "
            "Shift+F10 shows a message's actions, Ctrl+C copies."
        )
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
        self._refine_timer = QTimer(self)
        self._refine_timer.setSingleShot(True)
        self._refine_timer.setInterval(0)
        self._refine_timer.timeout.connect(self.on_refine_timer_timeout)

        self.delegate.imageReady.connect(self.viewport().update)
        self.verticalScrollBar().valueChanged.connect(self.on_scrollbar_value_changed)
        self.verticalScrollBar().sliderMoved.connect(self.on_scrollbar_slider_moved)
        self.verticalScrollBar().actionTriggered.connect(self.on_scrollbar_action_triggered)
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
        self._refine_timer.stop()
        self._refine_pending = False
        self.delegate.estimated.clear()
        self._set_marker(None)
        self._unread_pending = 0
        if shown is not None:
            shown.rowsAboutToBeInserted.connect(self.on_model_rows_about_to_be_inserted)
            shown.rowsInserted.connect(self.on_model_rows_inserted)
            # from the room's model: rows outside the window can change too
            (self._window_source or shown).dataChanged.connect(self.on_model_data_changed)
        self.scrollToBottom()
        self.seen.schedule()
        self.animations.schedule()

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
        self._show_marker(message_id, unread)

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

    def _show_marker(self, message_id: int, unread: int) -> None:
        source = self.source_model()
        window = self._window
        row = getattr(source, "row_for_id", lambda _i: None)(message_id)
        if row is None or source is None:
            return
        if window is not None and row < window.first:
            # the window grows to reach the divider, but never past MAX_DIVIDER_ROWS rows:
            # with thousands unread, the room opens that far up and the rest of the way
            # up is the usual scroll-back (laying out thousands of rows would stall)
            wanted = max(row, source.rowCount() - MAX_DIVIDER_ROWS)
            if wanted < window.first:
                window.grow(window.first - wanted)
            row = max(row, window.first)
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
            self._new_below = unread  # "29 new messages ↓" until the bottom is reached
            self.overlays.show_jump(unread)
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
        self.animations.schedule()
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
            if self._user_scroll:
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

    def on_scrollbar_action_triggered(self, _action: int) -> None:
        self._mark_user_scroll()

    def _mark_user_scroll(self) -> None:
        """The next scroll is the user's (wheel, keys, scroll bar): it shows the date pill;
        the view's own scrolling (to the bottom, to the divider) does not."""
        self._user_scroll = True
        QTimer.singleShot(0, self._end_user_scroll)

    def _end_user_scroll(self) -> None:
        self._user_scroll = False

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

        Rows near the viewport are measured at once; rows further away keep their last
        height for a moment and are measured in small batches right after (see
        ``on_refine_timer_timeout``), so dragging the window's edge stays smooth however
        many rows the window holds. The row at the top of the viewport stays put.
        """
        stick = self._stick_bottom
        restore = None if stick else self._keep_top_row()
        near = self._rows_near_viewport()
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
                self.delegate.exact_rows = near
                try:
                    self.relayout()
                finally:
                    self.delegate.exact_rows = None
                if self.delegate.estimated:
                    self._refine_pending = True
                    self._refine_timer.start()
            if restore is not None:
                restore()
        if stick:
            self.scrollToBottom()
        self.seen.schedule()
        self.animations.schedule()

    def _rows_near_viewport(self) -> range | None:
        """Rows on screen now plus two screens' worth either side (None: measure all)."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return None
        vp = self.viewport().rect()
        top = self.indexAt(QPoint(vp.center().x(), 0))
        bottom = self.indexAt(QPoint(vp.center().x(), vp.bottom()))
        first = top.row() if top.isValid() else 0
        last = bottom.row() if bottom.isValid() else model.rowCount() - 1
        if self._stick_bottom:
            last = model.rowCount() - 1
        margin = max(REFINE_MARGIN_ROWS, 2 * (last - first + 1))
        return range(max(0, first - margin), last + margin + 1)

    def _keep_top_row(self) -> Callable[[], None] | None:
        """Remember the row at the top of the viewport; the returned callable scrolls so
        it is where it was (after a relayout changed the heights above it)."""
        top = self.indexAt(QPoint(self.viewport().width() // 2, 1))
        if not top.isValid():
            return None
        anchor = QPersistentModelIndex(top)
        y = self.visualRect(top).top()

        def restore() -> None:
            model = self.model()
            if model is None or not anchor.isValid():
                return
            delta = self.visualRect(model.index(anchor.row(), 0)).top() - y
            if delta:
                self._adjusting = True
                try:
                    bar = self.verticalScrollBar()
                    bar.setValue(bar.value() + delta)
                finally:
                    self._adjusting = False

        return restore

    def on_refine_timer_timeout(self) -> None:
        """Measure a batch of the rows a resize left with their old height; when none is
        left, lay out once more with the exact heights (the top row staying put)."""
        model = self.model()
        pending = self.delegate.estimated
        if model is None or not self._refine_pending:
            pending.clear()
            return
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        done = 0
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            msg = self.delegate.message(index)
            if msg is not None and id(msg) in pending:
                self.delegate.sizeHint(option, index)
                pending.pop(id(msg), None)
                done += 1
                if done >= REFINE_BATCH_ROWS:
                    break
        if pending and done:
            self._refine_timer.start()
            return
        # (rows may also have been measured meanwhile by Qt asking for their rects: the
        # positions still come from the estimated pass, so lay out again all the same)
        pending.clear()
        self._refine_pending = False
        stick = self._stick_bottom
        restore = None if stick else self._keep_top_row()
        self.relayout()
        if restore is not None:
            restore()
        if stick:
            self.scrollToBottom()

    @property
    def refining(self) -> bool:
        """True while rows far from the viewport still wait for their height at this width."""
        return self._refine_pending

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

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        """Overrides QWidget.hideEvent: nothing animates out of sight."""
        super().hideEvent(event)
        self.animations.schedule()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """Overrides QWidget.showEvent: rows shown now may count as seen."""
        super().showEvent(event)
        self.seen.schedule()
        self.animations.schedule()

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

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        """Overrides QAbstractScrollArea.wheelEvent: scrolling up at the top loads more."""
        self._mark_user_scroll()
        super().wheelEvent(event)
        bar = self.verticalScrollBar()
        if event.angleDelta().y() > 0 and bar.value() == bar.minimum() and self._can_go_older():
            self._reached_top()
