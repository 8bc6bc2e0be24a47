"""MemberStore: who is in each room and who is online (presence is per user, not room)."""

from __future__ import annotations

import bisect

from desktop.state.listeners import Observable
from desktop.state.types import Change, Member


class MemberStore(Observable):
    """Members per room, kept sorted by name (case-insensitive).

    Listeners get Change(kind, room, rows, fields): "inserted"/"removed" with row
    indexes, "updated" with ("online",), "reset" when a room's list is replaced.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rooms: dict[str, list[Member]] = {}
        self._online: dict[str, bool] = {}  # lowercased name -> online

    def members(self, room: str) -> list[Member]:
        return list(self._rooms.get(room, []))

    def is_online(self, name: str) -> bool:
        return self._online.get(name.lower(), False)

    def set_members(self, room: str, members: list[Member]) -> None:
        for m in members:
            self._online[m.name.lower()] = m.online
        self._rooms[room] = sorted(members, key=lambda m: m.name.casefold())
        self._emit(Change("reset", room))

    def add(self, room: str, name: str) -> None:
        """A user joined ``room``; harmless if already listed."""
        members = self._rooms.setdefault(room, [])
        if any(m.name.lower() == name.lower() for m in members):
            return
        member = Member(name, self._online.get(name.lower(), True))
        keys = [m.name.casefold() for m in members]
        row = bisect.bisect_left(keys, name.casefold())
        members.insert(row, member)
        self._emit(Change("inserted", room, (row,)))

    def remove(self, room: str, name: str) -> None:
        members = self._rooms.get(room, [])
        for row, m in enumerate(members):
            if m.name.lower() == name.lower():
                del members[row]
                self._emit(Change("removed", room, (row,)))
                return

    def drop_room(self, room: str) -> None:
        if self._rooms.pop(room, None) is not None:
            self._emit(Change("reset", room))

    def set_all_offline(self) -> None:
        """We lost the server: nobody's presence is known any more (until a refresh)."""
        for name, online in list(self._online.items()):
            if online:
                self.set_online(name, False)

    def set_online(self, name: str, online: bool) -> None:
        """Presence for a user: update their dot in every room they are listed in."""
        self._online[name.lower()] = online
        for room, members in self._rooms.items():
            for row, m in enumerate(members):
                if m.name.lower() == name.lower() and m.online != online:
                    m.online = online
                    self._emit(Change("updated", room, (row,), frozenset({"online"})))

