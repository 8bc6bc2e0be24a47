"""TimelineWindowModel: the newest rows of a timeline model, a window that grows upward.

A QListView with variable row heights lays out *every* row (one delegate ``sizeHint`` per
row) when its model is set or reset, and relays out rows when many arrive. Over a room
holding 10,000 messages in memory that is seconds of Python. Chat clients therefore only
show a window of the newest rows: this proxy exposes the source rows
``[first, rowCount)``. The window always reaches the newest row (new messages land in it);
``grow()`` moves its top up from memory when the user scrolls to the top (only when it
already starts at row 0 does the view ask the server for older history); ``trim()`` drops
rows from its top again when the user is back at the bottom.

Rows keep their source data unchanged (a window's top row may therefore have no header:
the view grows the window before it is looked at).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractProxyModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

logger = logging.getLogger(__name__)

WINDOW_ROWS = 150
GROW_ROWS = 100

AnyIndex = QModelIndex | QPersistentModelIndex


class TimelineWindowModel(QAbstractProxyModel):
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
        self._pending_remove: tuple[int, int, int] | None = None  # (s, e, removed in window)
        self._insert_inside = False
        self._src: QAbstractItemModel = source
        self._first = max(0, source.rowCount() - self.window_rows)
        super().setSourceModel(source)
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

    def at_source_top(self) -> bool:
        """True when the window starts at the source's first row (nothing more in memory)."""
        return self._first == 0

    def grow(self, rows: int = GROW_ROWS) -> int:
        """Show up to ``rows`` more older rows from the source; returns how many."""
        count = min(max(0, rows), self._first)
        if count == 0:
            return 0
        self.beginInsertRows(QModelIndex(), 0, count - 1)
        self._first -= count
        self.endInsertRows()
        return count

    def trim(self, keep: int | None = None) -> int:
        """Drop rows from the window's top so it holds ``keep`` (default window_rows)."""
        keep = self.window_rows if keep is None else max(1, keep)
        extra = self.rowCount() - keep
        if extra <= 0:
            return 0
        self.beginRemoveRows(QModelIndex(), 0, extra - 1)
        self._first += extra
        self.endRemoveRows()
        return extra

    # ----- source signals
    def on_source_rows_about_to_be_inserted(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid():
            return
        # Rows above the window stay out of it, except history prepended to a window that
        # already shows everything (the user asked for it by scrolling to the top).
        self._insert_inside = s > self._first or (s == self._first and self._first == 0)
        if self._insert_inside:
            self.beginInsertRows(QModelIndex(), s - self._first, e - self._first)

    def on_source_rows_inserted(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid():
            return
        if self._insert_inside:
            self._insert_inside = False
            self.endInsertRows()
        else:
            self._first += e - s + 1

    def on_source_rows_about_to_be_removed(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid():
            return
        lo = max(s, self._first)
        inside = max(0, e - lo + 1)
        self._pending_remove = (s, e, inside)
        if inside:
            self.beginRemoveRows(QModelIndex(), lo - self._first, e - self._first)

    def on_source_rows_removed(self, parent: QModelIndex, s: int, e: int) -> None:
        if parent.isValid() or self._pending_remove is None:
            return
        _s, _e, inside = self._pending_remove
        self._pending_remove = None
        above = (e - s + 1) - inside
        self._first -= above
        if inside:
            self.endRemoveRows()

    def on_source_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, roles: list[int]
    ) -> None:
        top = max(top_left.row(), self._first)
        bottom = bottom_right.row()
        if bottom < top:
            return
        self.dataChanged.emit(
            self.index(top - self._first, 0), self.index(bottom - self._first, 0), roles
        )

    def on_source_model_reset(self) -> None:
        self._first = max(0, self._src.rowCount() - self.window_rows)
        self.endResetModel()

    # ----- QAbstractProxyModel
    def mapToSource(self, proxy_index: AnyIndex) -> QModelIndex:  # noqa: N802
        """Overrides QAbstractProxyModel.mapToSource."""
        if not proxy_index.isValid():
            return QModelIndex()
        return self._src.index(proxy_index.row() + self._first, proxy_index.column())

    def mapFromSource(self, source_index: AnyIndex) -> QModelIndex:  # noqa: N802
        """Overrides QAbstractProxyModel.mapFromSource (invalid outside the window)."""
        if not source_index.isValid() or source_index.row() < self._first:
            return QModelIndex()
        return self.index(source_index.row() - self._first, source_index.column())

    def index(self, row: int, column: int = 0, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        """Overrides QAbstractItemModel.index."""
        if parent.isValid() or column != 0 or not 0 <= row < self.rowCount():
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, _index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        """Overrides QAbstractItemModel.parent: a flat list."""
        return QModelIndex()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        """Overrides QAbstractItemModel.rowCount."""
        if parent.isValid():
            return 0
        return max(0, self._src.rowCount() - self._first)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        """Overrides QAbstractItemModel.columnCount."""
        return 0 if parent.isValid() else 1

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Overrides QAbstractProxyModel.data (straight to the source row)."""
        if not index.isValid():
            return None
        return self._src.data(self._src.index(index.row() + self._first, 0), role)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        """Overrides QAbstractProxyModel.flags."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return self._src.flags(self._src.index(index.row() + self._first, 0))

    def sibling(self, row: int, column: int, _index: AnyIndex) -> QModelIndex:
        """Overrides QAbstractProxyModel.sibling."""
        return self.index(row, column)

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: N802, B008
        """Overrides QAbstractProxyModel.hasChildren."""
        return not parent.isValid() and self.rowCount() > 0

    def source(self) -> QAbstractItemModel:
        return self._src

    def message_at(self, row: int) -> Any:
        """The source's ``message_at(first + row)`` (None outside, or without one)."""
        getter = getattr(self._src, "message_at", None)
        if getter is None or not 0 <= row < self.rowCount():
            return None
        return getter(row + self._first)
