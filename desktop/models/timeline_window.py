"""TimelineWindowModel: the newest rows of a timeline model, a window that grows upward.

A QListView with variable row heights lays out *every* row (one delegate ``sizeHint`` per
row) when its model is set or reset, and relays out rows when many arrive. Over a room
holding 10,000 messages in memory that is seconds of Python. Chat clients therefore only
show a window of the newest rows: this proxy exposes the source rows
``[first, rowCount)``. The window always reaches the newest row (new messages land in it);
``grow()`` moves its top up from memory when the user scrolls to the top (only when it
already starts at row 0 does the view ask the server for older history); ``trim()`` drops
rows from its top again when the user is back at the bottom.

Rows appended at the bottom are announced at once after a quiet spell, else in batches,
at most one every ``APPEND_INTERVAL_MS``: each announcement costs the view a layout pass and a repaint, so
during a flood this bounds the GUI's work per second instead of paying it per message.
With ``follow_latest`` set (the user is at the bottom) a batch also trims the top back to
``window_rows``, so the rows laid out stay few however long the flood.

Rows keep their source data unchanged (a window's top row may therefore have no header:
the view grows the window before it is looked at).

The room may hold separate stretches of history with gaps between them (a search result
far back is loaded with the history *around* it, see MessageStore.add_range). The window
never spans a gap: ``grow()`` and ``grow_down()`` stop at one (the view then asks for the
gap to be filled from that side), and ``recenter()`` opens the window around a row in the
middle of the room. Such a window is not **live**: it does not reach the newest row, rows
appended below it are not shown, and ``go_live()`` brings it back to the newest rows.

It is a QAbstractListModel (with ``mapToSource``/``mapFromSource`` like a proxy) rather
than a QAbstractProxyModel: the view calls ``index()`` and ``rowCount()`` several times per
row on every layout pass, and the list model's C++ ``index()`` plus a cached row count
keep those calls cheap.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
)

from desktop.models.row_sync import AnyIndex

logger = logging.getLogger(__name__)

WINDOW_ROWS = 150
GROW_ROWS = 100
APPEND_INTERVAL_MS = 50



class TimelineWindowModel(QAbstractListModel):
    """A flat proxy over a list model's newest rows; see the module docstring."""

    def __init__(
        self,
        source: QAbstractItemModel,
        window_rows: int = WINDOW_ROWS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window_rows = max(1, window_rows)
        self._first = 0
        self._pending_remove: tuple[int, int] | None = None  # (rows above, rows inside)
        self._insert_inside = False
        self._above_insert = False
        self._src: QAbstractItemModel = source
        self.live = True  # the window reaches the newest row (see the module docstring)
        self._first = self._newest_first()
        self._count = source.rowCount() - self._first
        self.follow_latest = False
        self._append_timer = QTimer(self)
        self._append_timer.setSingleShot(True)
        self._append_timer.setInterval(APPEND_INTERVAL_MS)
        self._append_timer.timeout.connect(self.release)
        self._last_release = 0.0
        source.rowsAboutToBeInserted.connect(self.on_source_rows_about_to_be_inserted)
        source.rowsInserted.connect(self.on_source_rows_inserted)
        source.rowsAboutToBeRemoved.connect(self.on_source_rows_about_to_be_removed)
        source.rowsRemoved.connect(self.on_source_rows_removed)
        source.dataChanged.connect(self.on_source_data_changed)
        source.modelAboutToBeReset.connect(self.beginResetModel)
        source.modelReset.connect(self.on_source_model_reset)
        source.layoutAboutToBeChanged.connect(self.beginResetModel)
        source.layoutChanged.connect(self.on_source_model_reset)
        source.rowsAboutToBeMoved.connect(self.beginResetModel)
        source.rowsMoved.connect(self.on_source_model_reset)

    # ----- the window
    @property
    def first(self) -> int:
        """The source row shown as this model's row 0."""
        return self._first

    @property
    def held(self) -> int:
        """Source rows appended below the window and not announced yet."""
        return self._src.rowCount() - self._first - self._count

    def release(self) -> int:
        """Announce the rows appended since the last batch (the timer calls this)."""
        self._append_timer.stop()
        if not self.live:
            return 0
        self._last_release = time.monotonic()
        held = self.held
        if held > 0 and self.follow_latest and self._count + held > self.window_rows:
            self._drop_before_append(held)
            held = self.held
        if held > 0:
            self.beginInsertRows(QModelIndex(), self._count, self._count + held - 1)
            self._count += held
            self.endInsertRows()
        if self.follow_latest:
            self.trim()
        return max(0, held)

    def _drop_before_append(self, held: int) -> None:
        """Make room for a batch while following the bottom, before announcing it.

        The rows the batch pushes out of the window go first (and batch rows that would
        fall out at once are never announced), so a burst that piled up while the GUI was
        busy is never laid out whole.
        """
        overflow = self._count + held - self.window_rows
        shown_out = min(self._count, overflow)
        if shown_out > 0:
            self.beginRemoveRows(QModelIndex(), 0, shown_out - 1)
            self._first += shown_out
            self._count -= shown_out
            self.endRemoveRows()
        # with the window now empty, batch rows beyond window_rows stay above it, unseen
        self._first += overflow - shown_out

    def at_source_top(self) -> bool:
        """True when the window starts at the source's first row (nothing more in memory)."""
        return self._first == 0

    # ----- stretches of history and gaps between them
    def _gap_rows(self) -> list[int]:
        getter = getattr(self._src, "gap_rows", None)
        return getter() if getter is not None else []

    def bounds(self, row: int) -> tuple[int, int]:
        """The source rows ``[top, bottom)`` of the stretch of history holding ``row``."""
        top, bottom = 0, self._src.rowCount()
        for gap in self._gap_rows():
            if gap <= row:
                top = gap
            else:
                bottom = gap
                break
        return top, bottom

    def _newest_first(self) -> int:
        rows = self._src.rowCount()
        return max(self.bounds(rows - 1)[0] if rows else 0, rows - self.window_rows)

    def at_stretch_top(self) -> bool:
        """True when the window starts at its stretch's first row: above it lies the
        room's start (``at_source_top``) or a gap."""
        return self._first == self.bounds(self._first)[0]

    def at_stretch_bottom(self) -> bool:
        """True when a window that is not live ends at its stretch's last row (a gap)."""
        end = self._first + self._count
        return end >= self.bounds(max(0, end - 1))[1]

    def grow(self, rows: int = GROW_ROWS) -> int:
        """Show up to ``rows`` more older rows from the source, never across a gap;
        returns how many."""
        count = min(max(0, rows), self._first - self.bounds(self._first)[0])
        if count <= 0:
            return 0
        self.beginInsertRows(QModelIndex(), 0, count - 1)
        self._first -= count
        self._count += count
        self.endInsertRows()
        return count

    def grow_down(self, rows: int = GROW_ROWS) -> int:
        """Show up to ``rows`` more newer rows below a window that is not live, never
        across a gap; it becomes live when it reaches the newest row. How many."""
        if self.live:
            return 0
        end = self._first + self._count
        count = min(max(0, rows), self.bounds(max(0, end - 1))[1] - end)
        if count > 0:
            self.beginInsertRows(QModelIndex(), self._count, self._count + count - 1)
            self._count += count
            self.endInsertRows()
        if self._first + self._count >= self._src.rowCount():
            self.live = True
        return max(0, count)

    def recenter(self, row: int, above: int | None = None, below: int | None = None) -> None:
        """Show the rows around source row ``row`` (within its stretch of history) instead
        of the present ones: one reset, laying out about ``window_rows`` rows."""
        half = self.window_rows // 2
        above = half if above is None else above
        below = half if below is None else below
        top, bottom = self.bounds(row)
        self.beginResetModel()
        self._append_timer.stop()
        self._first = max(top, row - above)
        self._count = min(bottom, row + below + 1) - self._first
        self.live = self._first + self._count >= self._src.rowCount()
        self.follow_latest = False
        self.endResetModel()

    def go_live(self) -> None:
        """Back to the newest rows (from a window opened in the middle of the room)."""
        self.beginResetModel()
        self._append_timer.stop()
        self.live = True
        self._first = self._newest_first()
        self._count = self._src.rowCount() - self._first
        self.endResetModel()

    def trim(self, keep: int | None = None) -> int:
        """Drop rows from the window's top so it holds ``keep`` (default window_rows)."""
        keep = self.window_rows if keep is None else max(1, keep)
        extra = self.rowCount() - keep
        if extra <= 0:
            return 0
        self.beginRemoveRows(QModelIndex(), 0, extra - 1)
        self._first += extra
        self._count -= extra
        self.endRemoveRows()
        return extra

    # ----- source signals
    def on_source_rows_about_to_be_inserted(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid():
            return
        # Rows above the window stay out of it, except history prepended to a window that
        # already shows everything: the user asked for it by scrolling to the top, or the
        # window is not full yet. Rows at or after the window's end wait for the batch.
        first, end = self._first, self._first + self._count
        above = self._is_above(s)
        self._above_insert = above
        self._insert_inside = not above and s < end
        if self._insert_inside:
            self.beginInsertRows(QModelIndex(), s - first, e - first)

    def _is_above(self, s: int) -> bool:
        first = self._first
        if s != first:
            return s < first
        if first > 0 or s in self._gap_rows():  # (rows landing above a gap stay out)
            return True
        # history arriving while the user follows the bottom of a full window
        return self.follow_latest and self._count >= self.window_rows

    def on_source_rows_inserted(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid():
            return
        if self._insert_inside:
            self._insert_inside = False
            self._count += e - s + 1
            self.endInsertRows()
        elif self._above_insert:
            self._first += e - s + 1
        elif not self.live:
            return  # below a window in the middle of the room: grow_down() shows them
        elif not self._append_timer.isActive():
            wait_ms = APPEND_INTERVAL_MS - (time.monotonic() - self._last_release) * 1000
            if wait_ms <= 0:
                self.release()  # the first rows after a quiet spell show at once
            else:
                self._append_timer.start(max(1, int(wait_ms)))

    def on_source_rows_about_to_be_removed(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid():
            return
        first, end = self._first, self._first + self._count
        lo, hi = max(s, first), min(e, end - 1)
        inside = max(0, hi - lo + 1)
        above = max(0, min(e, first - 1) - s + 1)
        self._pending_remove = (above, inside)
        if inside:
            self.beginRemoveRows(QModelIndex(), lo - first, hi - first)

    def on_source_rows_removed(self, parent: QModelIndex, _s: int, _e: int) -> None:
        if parent.isValid() or self._pending_remove is None:
            return
        above, inside = self._pending_remove
        self._pending_remove = None
        self._first -= above
        if inside:
            self._count -= inside
            self.endRemoveRows()

    def on_source_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, roles: list[int]
    ) -> None:
        top = max(top_left.row(), self._first)
        bottom = min(bottom_right.row(), self._first + self._count - 1)
        if bottom < top:
            return
        self.dataChanged.emit(
            self.index(top - self._first, 0), self.index(bottom - self._first, 0), roles
        )

    def on_source_model_reset(self) -> None:
        self.live = True
        self._first = self._newest_first()
        self._count = self._src.rowCount() - self._first
        self._append_timer.stop()
        self.endResetModel()

    # ----- proxy-style mapping
    def mapToSource(self, proxy_index: AnyIndex) -> QModelIndex:  # noqa: N802
        """The source index of a row of this model."""
        if not proxy_index.isValid():
            return QModelIndex()
        return self._src.index(proxy_index.row() + self._first, proxy_index.column())

    def mapFromSource(self, source_index: AnyIndex) -> QModelIndex:  # noqa: N802
        """This model's index of a source row (invalid outside the window)."""
        row = source_index.row()
        if not source_index.isValid() or not self._first <= row < self._first + self._count:
            return QModelIndex()
        return self.index(source_index.row() - self._first, source_index.column())

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        """Overrides QAbstractItemModel.rowCount."""
        return 0 if parent.isValid() else self._count

    def roleNames(self) -> dict[int, QByteArray]:  # noqa: N802
        """Overrides QAbstractItemModel.roleNames: the source's."""
        return self._src.roleNames()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Overrides QAbstractItemModel.data (straight to the source row)."""
        if not index.isValid():
            return None
        return self._src.data(self._src.index(index.row() + self._first, 0), role)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        """Overrides QAbstractItemModel.flags."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return self._src.flags(self._src.index(index.row() + self._first, 0))

    def source(self) -> QAbstractItemModel:
        return self._src

    def layout_inputs(self, row: int) -> Any:
        """The source's ``layout_inputs(first + row)`` (None outside, or without one)."""
        getter = getattr(self._src, "layout_inputs", None)
        if getter is None or not 0 <= row < self._count:
            return None
        return getter(row + self._first)

    def message_at(self, row: int) -> Any:
        """The source's ``message_at(first + row)`` (None outside, or without one)."""
        getter = getattr(self._src, "message_at", None)
        if getter is None or not 0 <= row < self.rowCount():
            return None
        return getter(row + self._first)
