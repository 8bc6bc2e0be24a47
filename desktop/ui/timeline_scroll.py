"""Where the timeline sits: following the bottom, keeping the view steady, going older.

:class:`TimelineScrollMixin` is part of :class:`desktop.ui.timeline.TimelineView`. It
follows the newest message while the user is at the bottom (the window model then trims
its top), keeps the row at the top of the viewport in place while history is prepended or
new messages arrive below while scrolled up, offers "N new messages ↓", shows the date
pill while the user scrolls, and asks for older rows when the top is reached (first from
memory by growing the window, then from the server through ``loadOlderRequested``).

A window opened in the middle of the room (a far jump, see ``timeline_jump``) is not
live: the view is not "at the bottom" there, "Jump to latest ↓" shows, and reaching its
bottom grows it down; at a gap in the held history, either edge asks for the gap to be
filled (``fillGapRequested``) and ``history_loaded()`` grows the window into what came.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
)
from PySide6.QtGui import QKeyEvent

from desktop.models.message_list import MessageRoles, day_label
from desktop.models.timeline_window import TimelineWindowModel
from desktop.ui.timeline_input import TimelineInputView

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QToolButton

    from desktop.ui.timeline_media import GifAnimations
    from desktop.ui.timeline_overlays import TimelineOverlays
    from desktop.ui.timeline_read import SeenTracker

LOAD_OLDER_THRESHOLD_PX = 160
BOTTOM_SLACK_PX = 24


class TimelineScrollMixin(TimelineInputView):
    """Scroll position and anchoring of the timeline (see the module docstring)."""

    _user_scroll = False
    _stick = True

    if TYPE_CHECKING:  # set up by TimelineView.__init__
        loadOlderRequested: SignalInstance
        fillGapRequested: SignalInstance
        _window: TimelineWindowModel | None
        _anchor: QPersistentModelIndex | None
        _anchor_top: int
        _adjusting: bool
        _new_below: int
        _unread_pending: int
        more_history: bool
        window_rows: int
        overlays: TimelineOverlays
        jump_button: QToolButton
        seen: SeenTracker
        animations: GifAnimations

        def set_unread(self, unread: int) -> None: ...
        def source_model(self) -> QAbstractItemModel | None: ...

    def _reached_top(self) -> None:
        """The user is at the top: show older rows from memory, else ask for history
        (older than all held, or to fill the gap above the window)."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        window = self._window
        if window is not None and not window.at_stretch_top():
            window.grow()
            return
        if window is not None and not window.at_source_top():
            edge = window.message_at(0)
            if edge is not None and edge.id is not None:
                self.fillGapRequested.emit(edge.id, True)
            return
        if self.more_history:
            self.loadOlderRequested.emit()

    def _reached_bottom(self) -> None:
        """The user is at the bottom of a window that is not live: show newer rows from
        memory, else ask for the gap below the window to be filled."""
        window = self._window
        if window is None or window.live or window.rowCount() == 0:
            return
        if not window.at_stretch_bottom():
            window.grow_down()
            return
        edge = window.message_at(window.rowCount() - 1)
        if edge is not None and edge.id is not None:
            self.fillGapRequested.emit(edge.id, False)

    @property
    def _in_middle(self) -> bool:
        """The window sits in the middle of the room (not live: see the module doc)."""
        return self._window is not None and not self._window.live

    def _near_middle_end(self) -> bool:
        """At the bottom of a window in the middle of the room: time to go on down."""
        bar = self.verticalScrollBar()
        return self._in_middle and bar.maximum() - bar.value() <= LOAD_OLDER_THRESHOLD_PX

    def history_loaded(self) -> None:
        """History (older, or a gap's) arrived: an edge the user sits at shows it."""
        flush = getattr(self.source_model(), "flush", None)
        if flush is not None:
            flush()  # the store's rows reach the model on a short timer
        bar = self.verticalScrollBar()
        if bar.value() <= LOAD_OLDER_THRESHOLD_PX and self._can_go_older():
            self._reached_top()
        if self._near_middle_end():
            self._reached_bottom()

    def _can_go_older(self) -> bool:
        window = self._window
        return self.more_history or (window is not None and not window.at_source_top())

    @property
    def _stick_bottom(self) -> bool:
        """Following the newest message (the window then trims its top as rows arrive)."""
        return self._stick

    @_stick_bottom.setter
    def _stick_bottom(self, on: bool) -> None:
        window = self._window
        on = on and (window is None or window.live)
        self._stick = on
        if window is not None:
            window.follow_latest = on

    def is_at_bottom(self) -> bool:
        """At the newest message: scrolled to the end of a live window."""
        if self._in_middle:
            return False
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
        if self._in_middle:
            appended = False  # history shown below a window in the middle of the room
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
        elif not self.jump_button.isVisible() and (
            self.verticalScrollBar().maximum() - value > self.viewport().height()
            or self._in_middle
        ):
            self.overlays.show_jump(self._new_below)
        if value <= LOAD_OLDER_THRESHOLD_PX and not self._adjusting and self._can_go_older():
            self._reached_top()
        if not self._adjusting and self._near_middle_end():
            self._reached_bottom()

    def on_scrollbar_slider_moved(self, _value: int) -> None:
        self.overlays.show_date(self._top_day())

    def on_scrollbar_action_triggered(self, _action: int) -> None:
        self._mark_user_scroll()

    moves = 0  # the user's scrolls and jumps so far (see ``moved_since``)

    def moved_since(self, moves: int) -> bool:
        """True when the user scrolled or jumped since ``moves`` was read: a position
        that was being loaded meanwhile (the first unread) must not yank the view."""
        return self.moves != moves

    def _mark_user_scroll(self) -> None:
        """The next scroll is the user's (wheel, keys, scroll bar): it shows the date pill;
        the view's own scrolling (to the bottom, to the divider) does not."""
        self.moves += 1
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
        self.moves += 1
        self._stick_bottom = True
        self._anchor = None
        self._new_below = 0
        self.overlays.hide_jump()
        if self._window is not None:
            if not self._window.live:
                self._window.go_live()
                self._stick_bottom = True
            self._window.release()
            self._window.trim(self.window_rows)
        self.scrollToBottom()

    def on_jump_button_clicked(self) -> None:
        self.scroll_to_latest()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides TimelineInputView.keyPressEvent: Ctrl+End is "Jump to latest" (from
        a window in the middle of the room, End only reaches that window's last row)."""
        if (event.key() == Qt.Key.Key_End
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.scroll_to_latest()
            model = self.model()
            if model is not None and model.rowCount():
                self.setCurrentIndex(model.index(model.rowCount() - 1, 0))
                self._set_focus_ring(True)
            event.accept()
            return
        super().keyPressEvent(event)

    @property
    def new_below(self) -> int:
        return self._new_below

