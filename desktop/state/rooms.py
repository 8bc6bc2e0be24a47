"""RoomStore: the rooms the user can see (joined ones and public ones to browse)."""

from __future__ import annotations

from desktop.state.listeners import Observable
from desktop.state.types import Change, Message, Room


class RoomStore(Observable):
    """Rooms by id. Listeners get Change(kind, room_id, fields=...) with kind
    "inserted" | "updated" | "removed" | "reset"; rows are unused (order is the model's)."""

    def __init__(self) -> None:
        super().__init__()
        self._rooms: dict[str, Room] = {}

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def all(self) -> list[Room]:
        return list(self._rooms.values())

    def joined(self) -> list[Room]:
        return [r for r in self._rooms.values() if r.joined]

    def browsable(self) -> list[Room]:
        """Public rooms the user is not in."""
        return [r for r in self._rooms.values() if not r.joined and r.kind == "public"]

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._rooms

    def replace_all(self, rooms: list[Room]) -> None:
        """Take a fresh ``rooms:list``; keeps local unread counts the caller did not set."""
        self._rooms = {r.id: r for r in rooms}
        self._emit(Change("reset", ""))

    def upsert(self, room: Room) -> None:
        old = self._rooms.get(room.id)
        self._rooms[room.id] = room
        if old is None:
            self._emit(Change("inserted", room.id))
            return
        fields = {
            name
            for name in ("name", "topic", "kind", "owner", "members", "joined", "unread",
                         "mentions")
            if getattr(old, name) != getattr(room, name)
        }
        if room.last_message is None and old.last_message is not None:
            room.last_message = old.last_message
        elif room.last_message is not old.last_message:
            fields.add("last_message")
        self._emit(Change("updated", room.id, fields=frozenset(fields)))

    def remove(self, room_id: str) -> Room | None:
        room = self._rooms.pop(room_id, None)
        if room is not None:
            self._emit(Change("removed", room_id))
        return room

    def set_joined(self, room_id: str, joined: bool) -> None:
        self._set(room_id, "joined", joined)

    def set_unread(self, room_id: str, unread: int) -> None:
        self._set(room_id, "unread", max(0, unread))

    def increment_unread(self, room_id: str, by: int = 1) -> None:
        room = self._rooms.get(room_id)
        if room is not None and by:
            self._set(room_id, "unread", room.unread + by)

    def set_mentions(self, room_id: str, mentions: int) -> None:
        self._set(room_id, "mentions", max(0, mentions))

    def increment_mentions(self, room_id: str, by: int = 1) -> None:
        room = self._rooms.get(room_id)
        if room is not None and by:
            self._set(room_id, "mentions", room.mentions + by)

    def set_last_message(self, room_id: str, msg: Message) -> None:
        """Keep the newest message (by id) as the room's last message."""
        room = self._rooms.get(room_id)
        if room is None or msg.id is None:
            return
        last = room.last_message
        if last is not None and last.id is not None and last.id >= msg.id:
            return
        self._set(room_id, "last_message", msg)

    def refresh_last_message(self, room_id: str, msg: Message) -> None:
        """The room's last message was edited or deleted: show its new state."""
        room = self._rooms.get(room_id)
        if room is None or room.last_message is None or room.last_message.id != msg.id:
            return
        room.last_message = msg
        self._emit(Change("updated", room_id, fields=frozenset({"last_message"})))

    def _set(self, room_id: str, name: str, value: object) -> None:
        room = self._rooms.get(room_id)
        if room is None or getattr(room, name) == value:
            return
        setattr(room, name, value)
        self._emit(Change("updated", room_id, fields=frozenset({name})))
