"""Bring a list model's rows in line with a store's rows by key, with minimal signals.

The models keep their own copy of the rows they have announced to Qt, so a store may
change many times between two flushes (a flood of messages, an echo replaced by its
acked copy that moves up, a removal) and the view still gets a valid, small series of
beginRemoveRows/beginInsertRows calls. Shared by the three list models.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from enum import IntEnum
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractListModel, QByteArray, QModelIndex, QPersistentModelIndex, Qt

T = TypeVar("T")

AnyIndex = QModelIndex | QPersistentModelIndex


class RowMirror(Generic[T]):
    """The rows a model has announced, and the diff that moves them to a new list."""

    def __init__(self, model: QAbstractListModel, key: Callable[[T], Hashable]) -> None:
        self._model = model
        self._key = key
        self.rows: list[T] = []
        self.keys: list[Hashable] = []
        self._index: dict[Hashable, int] | None = None

    def sync(self, target: Sequence[T]) -> list[int]:
        """Announce removals, moves (as remove+insert) and inserts; returns the rows that
        now hold a different object under the same key or sit right after an insert or
        removal (their neighbour-derived data may have changed)."""
        model = self._model
        root = QModelIndex()
        self._index = None
        new_keys = [self._key(item) for item in target]
        new_pos = {k: i for i, k in enumerate(new_keys)}
        touched: set[Hashable] = set()

        # 1. removals: keys gone, or kept out of order (greedy increasing target index)
        last = -1
        doomed: list[bool] = []
        for k in self.keys:
            pos = new_pos.get(k)
            if pos is None or pos < last:
                doomed.append(True)
            else:
                doomed.append(False)
                last = pos
        i = len(self.keys) - 1
        while i >= 0:
            if not doomed[i]:
                i -= 1
                continue
            j = i
            while j - 1 >= 0 and doomed[j - 1]:
                j -= 1
            model.beginRemoveRows(root, j, i)
            del self.keys[j : i + 1]
            del self.rows[j : i + 1]
            del doomed[j : i + 1]
            model.endRemoveRows()
            if j < len(self.keys):
                touched.add(self.keys[j])
            i = j - 1

        # 2. inserts: self.keys is now an ordered subsequence of new_keys
        i = 0
        while i < len(new_keys):
            if i < len(self.keys) and self.keys[i] == new_keys[i]:
                i += 1
                continue
            j = i
            nxt = self.keys[i] if i < len(self.keys) else None
            while j < len(new_keys) and new_keys[j] != nxt:
                j += 1
            model.beginInsertRows(root, i, j - 1)
            self.keys[i:i] = new_keys[i:j]
            self.rows[i:i] = list(target[i:j])
            model.endInsertRows()
            if j < len(new_keys):
                touched.add(new_keys[j])
            i = j

        # 3. same key, new object (an echo replaced by its server copy)
        for row, item in enumerate(target):
            if self.rows[row] is not item:
                self.rows[row] = item
                touched.add(new_keys[row])
        return sorted(new_pos[k] for k in touched if k in new_pos)

    def insert_at(self, placed: Sequence[tuple[int, T]] | None) -> list[int] | None:
        """Announce rows inserted at known places: ``placed`` holds (row after every
        insert, item), ascending. Costs the inserted rows (plus one memmove per run),
        not the list. Returns the rows right after each run (their neighbour-derived
        data may have changed), or None when ``placed`` does not fit (the caller diffs
        with :meth:`sync`)."""
        if placed is None:
            return None
        total = len(self.rows) + len(placed)
        rows = [row for row, _item in placed]
        if any(b <= a for a, b in zip(rows, rows[1:], strict=False)) or (
            rows and (rows[0] < 0 or rows[-1] >= total)
        ):
            return None
        model = self._model
        root = QModelIndex()
        touched: list[int] = []
        i = 0
        while i < len(placed):
            j = i
            while j + 1 < len(placed) and placed[j + 1][0] == placed[j][0] + 1:
                j += 1
            start = placed[i][0]
            items = [item for _row, item in placed[i : j + 1]]
            model.beginInsertRows(root, start, start + len(items) - 1)
            self.rows[start:start] = items
            self.keys[start:start] = [self._key(item) for item in items]
            model.endInsertRows()
            after = start + len(items)
            if after < total:
                touched.append(after)
            i = j + 1
        if placed:
            self._index = None
        return touched

    def row_of_key(self, key: Hashable) -> int | None:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.keys)}
        return self._index.get(key)


class MirrorListModel(QAbstractListModel, Generic[T]):
    """The plumbing the three list models share: rows live in ``self._mirror``.

    Subclasses set ``Roles`` (an IntEnum from UserRole) and ``self._mirror``, and answer
    :meth:`item_data` for one valid row; index checks and role names live here once.
    """

    Roles: ClassVar[type[IntEnum]]
    _mirror: RowMirror[T]

    def item_at(self, row: int) -> T | None:
        rows = self._mirror.rows
        return rows[row] if 0 <= row < len(rows) else None

    def item_data(self, row: int, item: T, role: int) -> Any:
        """The value of ``role`` for ``item`` at ``row`` (None when it has none)."""
        raise NotImplementedError

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Overrides QAbstractListModel.rowCount."""
        return 0 if parent.isValid() else len(self._mirror.rows)

    def roleNames(self) -> dict[int, QByteArray]:
        """Overrides QAbstractItemModel.roleNames: each role's name in camelCase."""
        names = dict(super().roleNames())
        for role in self.Roles:
            names[int(role)] = QByteArray((role.name[0].lower() + role.name[1:]).encode())
        return names

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Overrides QAbstractItemModel.data."""
        if not index.isValid() or not 0 <= index.row() < len(self._mirror.rows):
            return None
        return self.item_data(index.row(), self._mirror.rows[index.row()], role)
