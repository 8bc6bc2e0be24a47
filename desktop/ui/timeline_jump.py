"""Opening the timeline at a given message: the unread divider and jumps to a message.

:class:`TimelineJumpMixin` is part of :class:`desktop.ui.timeline.TimelineView`.

- ``set_unread()`` draws "New messages" above the first unread message as a room opens
  and opens the room there when it is off-screen.
- ``show_message()`` brings a held message to the middle of the view and gives it the
  keyboard focus (a reply's quote, a search result); the caller flashes it.

Either grows the window model to reach a row above it, never by more than
``MAX_DIVIDER_ROWS`` rows for the divider (laying out thousands of rows would stall).
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


class TimelineJumpMixin(TimelineInputView):
    """The unread divider and jumps to a message (see the module docstring)."""

    if TYPE_CHECKING:  # set up by TimelineView.__init__ / TimelineScrollMixin
        _window: TimelineWindowModel | None
        _stick_bottom: bool
        _anchor: QPersistentModelIndex | None
        _adjusting: bool
        _new_below: int
        _unread_pending: int
        overlays: TimelineOverlays
        seen: SeenTracker

        def source_model(self) -> QAbstractItemModel | None: ...
        def relayout(self) -> None: ...
        def is_at_bottom(self) -> bool: ...

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


    def show_message(self, message_id: int) -> QModelIndex:
        """Scroll a held message to the middle of the view and focus it (the window grows
        to reach it); the view index, invalid when the room does not hold it."""
        source = self.source_model()
        flush = getattr(source, "flush", None)
        if flush is not None:
            flush()  # the store may hold rows the model announces a moment later
        row = getattr(source, "row_for_id", lambda _i: None)(message_id)
        model = self.model()
        if row is None or source is None or model is None:
            return QModelIndex()
        window = self._window
        if window is not None and row < window.first:
            window.grow(window.first - row)
        index = model.index(row - (window.first if window is not None else 0), 0)
        if not index.isValid():
            return QModelIndex()
        self._stick_bottom = False
        self._anchor = None
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.setCurrentIndex(index)
        self.seen.schedule()
        return index
