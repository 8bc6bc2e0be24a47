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

The view is put together from concern mixins: :mod:`desktop.ui.timeline_scroll` (following
the bottom, anchoring, going older), :mod:`desktop.ui.timeline_resize` (relayout at a new
width), :mod:`desktop.ui.timeline_jump` (the unread divider, ``show_message()``) and
:mod:`desktop.ui.timeline_input` (mouse, keyboard, drops).

Keyboard: Up/Down/PageUp/PageDown/Home/End move a visible focus between messages, Enter
opens an image, the Menu key or Shift+F10 opens the message's actions, Ctrl+C copies.
Text can be selected partly with the mouse (drag, double-click for a word) and copied;
the selection is painted by the delegate, no widget per row.

A jump far back (``show_message`` of a row outside the window) opens the window around
that row instead of growing it there; such a window is not live, and reaching its bottom
grows it down, or emits ``fillGapRequested`` at a gap in the held history (as reaching
the top of a window below a gap does).

Signals: ``loadOlderRequested()``, ``fillGapRequested(int edge_id, bool above)``,
``imageActivated(object message)``,
``retryRequested(str client_id)``, ``discardRequested(str client_id)``,
``mimeDropped(object QMimeData)``, ``seenUpTo(str room, int message_id)``.
"""

from __future__ import annotations

import logging

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
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QWidget,
)

from desktop.media.decoder import ImageDecoder
from desktop.models.message_list import MessageRoles
from desktop.models.timeline_window import WINDOW_ROWS, TimelineWindowModel
from desktop.state.types import Message
from desktop.ui import theme
from desktop.ui.message_delegate import MessageDelegate
from desktop.ui.timeline_jump import MAX_DIVIDER_ROWS, TimelineJumpMixin
from desktop.ui.timeline_media import GifAnimations
from desktop.ui.timeline_overlays import TimelineOverlays
from desktop.ui.timeline_read import SeenTracker
from desktop.ui.timeline_resize import TimelineResizeMixin
from desktop.ui.timeline_scroll import TimelineScrollMixin
from desktop.ui.timeline_select import TextSelection

logger = logging.getLogger(__name__)

__all__ = ["MAX_DIVIDER_ROWS", "TimelineView"]


class TimelineView(TimelineJumpMixin, TimelineResizeMixin, TimelineScrollMixin):
    """Message list; see the module docstring."""

    loadOlderRequested = Signal()
    # (message id at the window's edge, True: fill the gap above it / False: below it)
    fillGapRequested = Signal(int, bool)
    seenUpTo = Signal(str, int)

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
        self._unread_read_up_to: int | None = None
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
        self._unread_read_up_to = None
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


    # ----- QWidget / QAbstractItemView overrides
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
        elif event.angleDelta().y() < 0 and bar.value() == bar.maximum():
            self._reached_bottom()
