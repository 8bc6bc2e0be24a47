"""The timeline's layout at a new width: every row relaid out, the top row kept in place.

:class:`TimelineResizeMixin` is part of :class:`desktop.ui.timeline.TimelineView`. A width
change relays out every row at once (QListView's own Adjust mode only does so when the
height changes), measuring the rows near the viewport exactly and the rest in small
batches right after, so dragging the window's edge stays smooth in a long room.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPersistentModelIndex, QPoint, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QStyleOptionViewItem

from desktop.ui.timeline_input import TimelineInputView

if TYPE_CHECKING:
    from desktop.ui.timeline_media import GifAnimations
    from desktop.ui.timeline_overlays import TimelineOverlays
    from desktop.ui.timeline_read import SeenTracker

REFINE_MARGIN_ROWS = 40
REFINE_BATCH_ROWS = 250


class TimelineResizeMixin(TimelineInputView):
    """Width changes and full relayouts (see the module docstring)."""

    # set before __init__ runs: Qt may lay out from inside the base constructor
    _in_layout = False
    _relayout_again = False
    _refine_pending = False

    if TYPE_CHECKING:  # set up by TimelineView.__init__ / TimelineScrollMixin
        _stick_bottom: bool
        _adjusting: bool
        _last_width: int
        _refine_timer: QTimer
        overlays: TimelineOverlays
        seen: SeenTracker
        animations: GifAnimations

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

