"""Opening the timeline at a given message: the unread divider and jumps to a message.

:class:`TimelineJumpMixin` is part of :class:`desktop.ui.timeline.TimelineView`.

- ``set_unread()`` draws "New messages" above the first unread message as a room opens
  and opens the room there when it is off-screen.
- ``show_message()`` brings a held message to the middle of the view and gives it the
  keyboard focus (a reply's quote, a search result); the caller flashes it.

The divider grows the window model to reach a row above it, never by more than
``MAX_DIVIDER_ROWS`` rows (laying out thousands of rows would stall). ``show_message()``
grows the window to a row at most ``MAX_GROW_ROWS`` away in the same stretch of history;
farther, or across a gap, it opens the window around the row (``recenter``), which lays
out only the rows around it. Such a window is not live (see ``timeline_scroll``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex
from PySide6.QtWidgets import QAbstractItemView

from desktop.models.timeline_window import TimelineWindowModel
from desktop.ui.timeline_input import TimelineInputView

if TYPE_CHECKING:
    from desktop.ui.timeline_overlays import TimelineOverlays
    from desktop.ui.timeline_read import SeenTracker

MAX_DIVIDER_ROWS = 1000
MAX_GROW_ROWS = 300
DIVIDER_CONTEXT_ROWS = 10  # read messages kept above the divider when opened there


class TimelineJumpMixin(TimelineInputView):
    """The unread divider and jumps to a message (see the module docstring)."""

    if TYPE_CHECKING:  # set up by TimelineView.__init__ / TimelineScrollMixin
        _window: TimelineWindowModel | None
        _stick_bottom: bool
        _anchor: QPersistentModelIndex | None
        _adjusting: bool
        _new_below: int
        _unread_pending: int
        _unread_read_up_to: int | None
        moves: int
        overlays: TimelineOverlays
        seen: SeenTracker

        def source_model(self) -> QAbstractItemModel | None: ...
        def relayout(self) -> None: ...
        def is_at_bottom(self) -> bool: ...

    def set_unread(self, unread: int, read_up_to: int | None = None, move: bool = True) -> None:
        """Draw "New messages" above the first of the room's ``unread`` messages and open
        the room there if it is off-screen (else stay at the bottom). Called as the room
        opens (``read_up_to``: the read position then, when the server gave one); with no
        rows yet, it is resolved when the first rows arrive. ``move`` False: only
        draw the divider (the user has moved elsewhere meanwhile)."""
        source = self.source_model()
        finder = getattr(source, "first_unread_id", None)
        if read_up_to is not None:
            self._unread_read_up_to = read_up_to
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
        message_id = finder(unread, self._unread_read_up_to)
        self._set_marker(message_id)
        if message_id is None or not move:
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
        opened_there = False
        if window is not None and row < window.first:
            # the window grows to reach the divider when it is near (at most
            # MAX_DIVIDER_ROWS rows laid out); farther, or across a gap in the held
            # history, the window opens around the divider instead, as Telegram does
            if (window.bounds(row) == window.bounds(window.first)
                    and row >= source.rowCount() - MAX_DIVIDER_ROWS):
                window.grow(window.first - row)
            else:
                window.recenter(row, above=DIVIDER_CONTEXT_ROWS, below=window.window_rows)
                opened_there = True
        index = self.model().index(row - (window.first if window is not None else 0), 0)
        if not opened_there:
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


    def show_message(self, message_id: int) -> QModelIndex:
        """Scroll a held message to the middle of the view and focus it (the window grows
        to reach it); the view index, invalid when the room does not hold it."""
        self.moves += 1
        source = self.source_model()
        flush = getattr(source, "flush", None)
        if flush is not None:
            flush()  # the store may hold rows the model announces a moment later
        row = getattr(source, "row_for_id", lambda _i: None)(message_id)
        model = self.model()
        if row is None or source is None or model is None:
            return QModelIndex()
        window = self._window
        if window is not None:
            self._bring_into_window(window, row)
        index = model.index(row - (window.first if window is not None else 0), 0)
        if not index.isValid():
            return QModelIndex()
        self._stick_bottom = False
        self._anchor = None
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.setCurrentIndex(index)
        self.seen.schedule()
        return index

    def _bring_into_window(self, window: TimelineWindowModel, row: int) -> None:
        """Grow the window to ``row`` when it is near in the same stretch of history,
        else open the window around it."""
        end = window.first + window.rowCount()
        if window.live and row >= end:
            window.release()  # a row of the batch not announced yet
            end = window.first + window.rowCount()
        if window.first <= row < end:
            return
        same_stretch = window.bounds(row) == window.bounds(window.first)
        if same_stretch and window.first - MAX_GROW_ROWS <= row < window.first:
            window.grow(window.first - row)
        elif same_stretch and not window.live and end <= row < end + MAX_GROW_ROWS:
            window.grow_down(row - end + 1)
        else:
            self._anchor = None
            window.recenter(row)
            self._stick_bottom = False
            self.seen.schedule()
