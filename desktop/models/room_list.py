"""RoomListModel: the joined rooms, rooms section first then direct messages; inside each
section the most recently active first (then by name), as every chat app sorts them."""

from __future__ import annotations

from collections.abc import Hashable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
)
from PySide6.QtGui import QFont

from desktop.models.row_sync import MirrorListModel, RowMirror
from desktop.state.rooms import RoomStore
from desktop.state.types import Change, Room

ROOMS_SECTION = "Rooms"
DMS_SECTION = "Direct messages"


class RoomRoles(IntEnum):
    ItemRole = Qt.ItemDataRole.UserRole
    IdRole = Qt.ItemDataRole.UserRole + 1
    NameRole = Qt.ItemDataRole.UserRole + 2
    TopicRole = Qt.ItemDataRole.UserRole + 3
    KindRole = Qt.ItemDataRole.UserRole + 4
    UnreadRole = Qt.ItemDataRole.UserRole + 5
    SectionRole = Qt.ItemDataRole.UserRole + 6
    LastMessageRole = Qt.ItemDataRole.UserRole + 7


_FIELD_ROLES: dict[str, tuple[int, ...]] = {
    "topic": (RoomRoles.TopicRole, Qt.ItemDataRole.ToolTipRole),
    "unread": (RoomRoles.UnreadRole, Qt.ItemDataRole.FontRole),
    "last_message": (RoomRoles.LastMessageRole,),
    "members": (RoomRoles.ItemRole,),
    "owner": (RoomRoles.ItemRole,),
    "mentions": (RoomRoles.ItemRole,),
}


def section_of(room: Room) -> str:
    return DMS_SECTION if room.kind == "dm" else ROOMS_SECTION


def last_activity(room: Room) -> int:
    """When the room last saw a message (its ``ts``), 0 if we know of none."""
    return int(room.last_message.ts) if room.last_message is not None else 0


def _sort_key(room: Room) -> tuple[int, int, str, str]:
    return (1 if room.kind == "dm" else 0, -last_activity(room), room.name.casefold(), room.id)


def _room_key(room: Room) -> Hashable:
    return room.id


class RoomListModel(MirrorListModel[Room]):
    """Joined rooms. Roles: RoomRoles (ItemRole returns the Room)."""

    Roles = RoomRoles

    def __init__(self, store: RoomStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._mirror: RowMirror[Room] = RowMirror(self, _room_key)
        self._unsubscribe = store.subscribe(self._on_store_change)
        self._mirror.sync(self._target())
        self.destroyed.connect(self._unsubscribe)

    def _target(self) -> list[Room]:
        return sorted(self._store.joined(), key=_sort_key)

    def _on_store_change(self, change: Change) -> None:
        # rooms are few: always diff, which also swaps in a Room object the store replaced
        touched = self._mirror.sync(self._target())
        for row in touched:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [])
        if change.kind != "updated" or not change.fields:
            return
        updated_row = self._mirror.row_of_key(change.key)
        if updated_row is None or updated_row in touched:
            return
        roles: set[int] = set()
        for name in change.fields:
            roles.update(_FIELD_ROLES.get(name, (RoomRoles.ItemRole,)))
        idx = self.index(updated_row)
        self.dataChanged.emit(idx, idx, sorted(roles))

    def row_of(self, room_id: str) -> int | None:
        return self._mirror.row_of_key(room_id)

    def room_at(self, row: int) -> Room | None:
        return self.item_at(row)

    def rooms(self) -> list[Room]:
        """The rooms in display order."""
        return [room for r in range(self.rowCount()) if (room := self.item_at(r)) is not None]

    def item_data(self, row: int, room: Room, role: int) -> Any:
        """Overrides MirrorListModel.item_data."""
        if role == Qt.ItemDataRole.DisplayRole:
            return room.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return room.topic or None
        if role == Qt.ItemDataRole.FontRole:
            if room.unread:
                font = QFont()
                font.setBold(True)
                return font
            return None
        mapping: dict[int, Any] = {
            RoomRoles.ItemRole: room,
            RoomRoles.IdRole: room.id,
            RoomRoles.NameRole: room.name,
            RoomRoles.TopicRole: room.topic,
            RoomRoles.KindRole: room.kind,
            RoomRoles.UnreadRole: room.unread,
            RoomRoles.SectionRole: section_of(room),
            RoomRoles.LastMessageRole: room.last_message,
        }
        return mapping.get(role)
