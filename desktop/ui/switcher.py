"""Ctrl+K: one box to find rooms, people and public rooms not joined yet.

Typing filters one list with three kinds of entries, each with its icon:

- rooms and DMs you are in (with their unread count): Enter switches to them;
- people you know from your rooms' member lists and have no DM with yet: Enter opens one;
- public rooms you have not joined (the window fills them in once the server answers
  ``rooms:browse``): Enter joins.

Signals: ``roomChosen(str room_id)``, ``personChosen(str username)``,
``joinChosen(str room_id)``. No network work happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import IntEnum

from PySide6.QtCore import QModelIndex, QRectF, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import (
    QFont,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QDialog,
    QLineEdit,
    QListView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop.models.row_sync import AnyIndex
from desktop.state.types import Room
from desktop.ui import icons, theme

logger = logging.getLogger(__name__)


class EntryRoles(IntEnum):
    KindRole = Qt.ItemDataRole.UserRole + 1  # "room" | "person" | "public"
    IdRole = Qt.ItemDataRole.UserRole + 2
    UnreadRole = Qt.ItemDataRole.UserRole + 3
    HintRole = Qt.ItemDataRole.UserRole + 4


class _EntryDelegate(QStyledItemDelegate):
    """The default row, plus an unread badge or a muted hint ("Join", "Message") on the right."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Overrides QStyledItemDelegate.paint."""
        super().paint(painter, option, index)
        unread = int(index.data(EntryRoles.UnreadRole) or 0)
        hint = str(index.data(EntryRoles.HintRole) or "")
        rect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if unread:
            font = QFont(option.font)
            font.setBold(True)
            label = str(unread) if unread < 1000 else "999+"
            w = max(20, QFontMetrics(font).horizontalAdvance(label) + 12)
            badge = QRectF(rect.right() - 8 - w, rect.center().y() - 9, w, 18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.ACCENT)
            painter.drawRoundedRect(badge, 9, 9)
            painter.setPen(Qt.GlobalColor.white)
            painter.setFont(font)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        elif hint:
            painter.setPen(theme.muted(option.palette))
            painter.drawText(
                rect.adjusted(0, 0, -10, 0),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                hint,
            )
        painter.restore()


class _FilterEdit(QLineEdit):
    """Arrow keys and Enter steer the list below while typing."""

    def __init__(self, view: QListView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Overrides QLineEdit.keyPressEvent."""
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            model = self._view.model()
            if model.rowCount():
                row = self._view.currentIndex().row()
                row = row + (1 if event.key() == Qt.Key.Key_Down else -1)
                row = max(0, min(model.rowCount() - 1, row))
                self._view.setCurrentIndex(model.index(row, 0))
            return
        super().keyPressEvent(event)


class QuickSwitcher(QDialog):
    """See the module docstring."""

    roomChosen = Signal(str)
    personChosen = Signal(str)
    joinChosen = Signal(str)

    def __init__(
        self,
        rooms: Iterable[Room],
        people: Iterable[str],
        own_username: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("quickSwitcher")
        self.setWindowTitle("Find a room or person")
        self.resize(440, 380)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        self.source = QStandardItemModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.source)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterRole(Qt.ItemDataRole.DisplayRole)
        self.view = QListView(self)
        self.view.setObjectName("quickSwitcherList")
        self.view.setAccessibleName("Matches")
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(_EntryDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.edit = _FilterEdit(self.view, self)
        self.edit.setObjectName("quickSwitcherFilter")
        self.edit.setAccessibleName("Find a room or person")
        self.edit.setPlaceholderText("Find a room or person…")
        layout.addWidget(self.edit)
        layout.addWidget(self.view)
        self._own = (own_username or "").lower()
        self._known_ids: set[str] = set()
        self._dm_people: set[str] = set()
        for room in rooms:
            self._add_room(room)
        for name in sorted(set(people), key=str.casefold):
            if name.lower() != self._own and name.lower() not in self._dm_people:
                self._add("person", name, name, hint="Message")
        self.edit.textChanged.connect(self.on_edit_text_changed)
        self.edit.returnPressed.connect(self.choose_current)
        self.view.activated.connect(self.on_view_activated)
        self.on_edit_text_changed("")

    def _add(
        self, kind: str, key: str, label: str, unread: int = 0, hint: str = "", room_kind: str = ""
    ) -> None:
        palette = self.palette()
        icon_kind = "person" if kind == "person" else room_kind or "public"
        item = QStandardItem(icons.room_icon(icon_kind, label.lstrip("#"), palette), label)
        item.setEditable(False)
        item.setData(kind, EntryRoles.KindRole)
        item.setData(key, EntryRoles.IdRole)
        item.setData(unread, EntryRoles.UnreadRole)
        item.setData(hint, EntryRoles.HintRole)
        item.setToolTip(label)
        self.source.appendRow(item)

    def _add_room(self, room: Room) -> None:
        self._known_ids.add(room.id)
        if room.kind == "dm":
            self._dm_people.add(room.name.lower())
            label = room.name
        else:
            label = f"#{room.name}"
        self._add("room", room.id, label, unread=room.unread, room_kind=room.kind)

    def add_public_rooms(self, rooms: Iterable[Room]) -> None:
        """Public rooms from ``rooms:browse`` that the user has not joined yet."""
        current = self.view.currentIndex()
        for room in rooms:
            if room.id in self._known_ids or room.joined:
                continue
            self._known_ids.add(room.id)
            self._add("public", room.id, f"#{room.name}", hint="Join", room_kind="public")
        if not current.isValid():
            self._select_first()

    def entries(self) -> list[tuple[str, str]]:
        """(kind, id) of the entries shown now, in order."""
        return [
            (
                str(self.proxy.index(r, 0).data(EntryRoles.KindRole)),
                str(self.proxy.index(r, 0).data(EntryRoles.IdRole)),
            )
            for r in range(self.proxy.rowCount())
        ]

    def _select_first(self) -> None:
        if self.proxy.rowCount():
            self.view.setCurrentIndex(self.proxy.index(0, 0))

    def on_edit_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip().lstrip("#@"))
        self._select_first()

    def on_view_activated(self, index: QModelIndex) -> None:
        self.view.setCurrentIndex(index)
        self.choose_current()

    def choose_current(self) -> None:
        index = self.view.currentIndex()
        if not index.isValid():
            return
        kind = index.data(EntryRoles.KindRole)
        key = str(index.data(EntryRoles.IdRole))
        if kind == "person":
            self.personChosen.emit(key)
        elif kind == "public":
            self.joinChosen.emit(key)
        else:
            self.roomChosen.emit(key)
        self.accept()
