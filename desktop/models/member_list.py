"""MemberListModel: one room's members with their online dot, sorted by name."""

from __future__ import annotations

from collections.abc import Hashable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
)

from desktop.models.row_sync import MirrorListModel, RowMirror
from desktop.state.members import MemberStore
from desktop.state.types import Change, Member


class MemberRoles(IntEnum):
    ItemRole = Qt.ItemDataRole.UserRole
    NameRole = Qt.ItemDataRole.UserRole + 1
    OnlineRole = Qt.ItemDataRole.UserRole + 2


def _member_key(member: Member) -> Hashable:
    return member.name.lower()


class MemberListModel(MirrorListModel[Member]):
    """Members of ``room``. Roles: MemberRoles (ItemRole returns the Member)."""

    Roles = MemberRoles

    def __init__(self, store: MemberStore, room: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self.room = room
        self._mirror: RowMirror[Member] = RowMirror(self, _member_key)
        self._unsubscribe = store.subscribe(self._on_store_change)
        self._mirror.sync(store.members(room))
        self.destroyed.connect(self._unsubscribe)

    def _on_store_change(self, change: Change) -> None:
        if change.key != self.room:
            return
        if change.kind == "updated" and change.rows:
            members = self._store.members(self.room)
            if change.rows[0] >= len(members):
                return
            row = self._mirror.row_of_key(_member_key(members[change.rows[0]]))
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [MemberRoles.OnlineRole, MemberRoles.ItemRole])
            return
        touched = self._mirror.sync(self._store.members(self.room))
        for row in touched:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [])

    def item_data(self, row: int, member: Member, role: int) -> Any:
        """Overrides MirrorListModel.item_data."""
        if role == Qt.ItemDataRole.DisplayRole:
            return member.name
        if role == MemberRoles.ItemRole:
            return member
        if role == MemberRoles.NameRole:
            return member.name
        if role == MemberRoles.OnlineRole:
            return member.online
        return None
