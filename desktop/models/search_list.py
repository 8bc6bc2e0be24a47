"""SearchListModel: a thin Qt list model over the plain :class:`SearchResults`.

Rows are appended a page at a time (``rowsInserted`` for just the new rows) and reset
when the query changes; the search delegate paints them from ``ItemRole``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktop.state.search import SearchResult, SearchResults


class SearchRoles(IntEnum):
    ItemRole = Qt.ItemDataRole.UserRole  # the SearchResult
    RoomRole = Qt.ItemDataRole.UserRole + 1
    MessageIdRole = Qt.ItemDataRole.UserRole + 2
    SpansRole = Qt.ItemDataRole.UserRole + 3


class SearchListModel(QAbstractListModel):
    """Results of the panel's current query, newest first."""

    def __init__(self, results: SearchResults, room_name: Any = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results = results
        # room id -> the name shown (the room list's, falling back to the id)
        self.room_name = room_name or (lambda room: room)
        self._rows: list[SearchResult] = list(results.results)
        results.listeners.append(self.on_results_change)

    def on_results_change(self, kind: str, first: int, last: int) -> None:
        if kind == "reset":
            self.beginResetModel()
            self._rows = list(self.results.results)
            self.endResetModel()
        elif kind == "inserted":
            self.beginInsertRows(QModelIndex(), first, last)
            self._rows = list(self.results.results)
            self.endInsertRows()

    def result_at(self, row: int) -> SearchResult | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    # ----- QAbstractListModel overrides
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:  # noqa: N802
        """Overrides QAbstractItemModel.rowCount (a flat list)."""
        if parent is not None and parent.isValid():
            return 0
        return len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Overrides QAbstractItemModel.data."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        item = self._rows[index.row()]
        msg = item.message
        if role == SearchRoles.ItemRole:
            return item
        if role == SearchRoles.RoomRole:
            return msg.room
        if role == SearchRoles.MessageIdRole:
            return msg.id
        if role == SearchRoles.SpansRole:
            return list(item.spans)
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            sender = msg.sender or "someone"
            return f"{sender} in {self.room_name(msg.room)}: {item.text}"
        return None
