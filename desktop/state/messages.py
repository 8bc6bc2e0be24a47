"""MessageStore: every room's messages in id order, local echoes where they were written.

Rules (shared/PROTOCOL.md sections 5 and 6):
- confirmed messages are kept sorted by id and deduplicated by id, since broadcasts,
  acks and history pages may overlap or arrive out of order;
- pending and failed echoes (id None) sit by their creation time among the confirmed
  ones: after every confirmed message that is not newer, before the first that is. An
  echo never moves once placed (a confirmed message arriving later goes before or
  after it by its own time), so a failed message does not stay pinned under everything
  said since. A server copy carrying the same own ``client_id`` replaces the echo (from
  an ack, a history page or another device);
- the status of own messages only moves up the ladder (failed aside), and a
  ``message:status`` up_to also covers own messages loaded later;
- a room may hold separate stretches of history with **gaps** between them: opening a
  search result or a reply's parent far back loads the messages *around* it instead of
  every page down to it (Element and Telegram do the same). A gap ``(lo, hi)`` sits between
  two held ids; what lies strictly between them is not known. Gaps are filled page by
  page from either side as the user scrolls into them (``add_range``), and a change to a
  message inside a gap is not inserted (it is loaded in its current state with its page).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from desktop.state.listeners import Observable
from desktop.state.types import Change, DeliveryStatus, Message, Receipts


@dataclass
class _RoomMessages:
    confirmed: list[Message] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # parallel to confirmed, for bisect
    pending: list[Message] = field(default_factory=list)
    # parallel to pending, non-decreasing: how many confirmed messages come before it
    slots: list[int] = field(default_factory=list)
    by_id: dict[int, Message] = field(default_factory=dict)
    # status floors from message:status: state -> highest up_to seen
    floors: dict[DeliveryStatus, int] = field(default_factory=dict)
    # the highest change seq seen for the room (protocol v2 section 10); 0: none
    seq: int = 0
    # unknown stretches of history between held ids, ascending: (lo, hi), lo < hi held
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def in_gap(self, message_id: int) -> bool:
        return any(lo < message_id < hi for lo, hi in self.gaps)

    def rows(self) -> list[Message]:
        if not self.pending:
            return list(self.confirmed)
        rows: list[Message] = []
        start = 0
        for slot, echo in zip(self.slots, self.pending, strict=True):
            rows.extend(self.confirmed[start:slot])
            rows.append(echo)
            start = slot
        rows.extend(self.confirmed[start:])
        return rows

    def confirmed_row(self, i: int) -> int:
        """The row of ``confirmed[i]``: after every echo placed before it."""
        return i + bisect.bisect_right(self.slots, i)

    def pending_row(self, j: int) -> int:
        return self.slots[j] + j

    def row_at(self, row: int) -> Message | None:
        for j, slot in enumerate(self.slots):
            if row < slot + j:
                return self.confirmed[row - j]
            if row == slot + j:
                return self.pending[j]
        i = row - len(self.pending)
        return self.confirmed[i] if 0 <= i < len(self.confirmed) else None

    def place_pending(self, msg: Message) -> int:
        """Insert an echo after the confirmed messages not newer than it; its row."""
        slot = len(self.confirmed)
        while slot > 0 and self.confirmed[slot - 1].ts > msg.ts:
            slot -= 1
        j = bisect.bisect_right(self.slots, slot)
        self.pending.insert(j, msg)
        self.slots.insert(j, slot)
        return self.pending_row(j)

    def remove_pending_at(self, j: int) -> int:
        row = self.pending_row(j)
        del self.pending[j]
        del self.slots[j]
        return row

    def insert_confirmed(self, i: int, msg: Message) -> None:
        """Insert at ``confirmed[i]``; echoes already placed keep their place: in the gap
        at ``i`` the message goes before the first echo newer than it."""
        assert msg.id is not None
        after = False
        for j, slot in enumerate(self.slots):
            if slot > i:
                self.slots[j] = slot + 1
            elif slot == i:
                after = after or self.pending[j].ts > msg.ts
                if after:
                    self.slots[j] = slot + 1
        self.ids.insert(i, msg.id)
        self.confirmed.insert(i, msg)
        self.by_id[msg.id] = msg


class MessageStore(Observable):
    """Messages per room. Listeners get Change(kind, room, rows, fields).

    ``inserted`` rows are indexes in the room's row list after the insert; ``updated``
    has one row and the changed field names ("status", "receipts", "error", ...);
    ``removed`` rows are indexes before the removal; ``reset`` means reread the room.
    """

    def __init__(self, own_username: str | None = None) -> None:
        super().__init__()
        self.own_username = own_username
        self._rooms: dict[str, _RoomMessages] = {}
        # told the image/file ids of a message that was deleted, so their bytes can
        # leave every cache
        self.on_media_dropped: Callable[[list[str]], None] = lambda ids: None

    # ----- reading
    def rooms(self) -> list[str]:
        return list(self._rooms)

    def messages(self, room: str) -> list[Message]:
        """The room's rows: confirmed by id, then pending echoes (a new list)."""
        data = self._rooms.get(room)
        return data.rows() if data else []

    def count(self, room: str) -> int:
        data = self._rooms.get(room)
        return len(data.confirmed) + len(data.pending) if data else 0

    def message_at(self, room: str, row: int) -> Message | None:
        data = self._rooms.get(room)
        if data is None or row < 0:
            return None
        if not data.pending:
            return data.confirmed[row] if row < len(data.confirmed) else None
        return data.row_at(row)

    def get(self, room: str, message_id: int) -> Message | None:
        data = self._rooms.get(room)
        return data.by_id.get(message_id) if data else None

    def find_client_id(self, client_id: str) -> Message | None:
        """The own message (pending or confirmed) with this client_id, if loaded."""
        for data in self._rooms.values():
            for msg in data.pending:
                if msg.client_id == client_id:
                    return msg
            for msg in reversed(data.confirmed):
                if msg.client_id == client_id and self._is_own(msg):
                    return msg
        return None

    def held_seq(self, room: str) -> int:
        """The highest change ``seq`` this room is known to be caught up to (0: none)."""
        data = self._rooms.get(room)
        return data.seq if data else 0

    def note_seq(self, room: str, seq: int) -> None:
        """A ``message:changes`` answer said the room is at ``seq``: caught up to it."""
        data = self._room(room)
        data.seq = max(data.seq, seq)

    def gaps(self, room: str) -> list[tuple[int, int]]:
        """The room's unknown stretches ``(lo, hi)`` between held ids, ascending."""
        data = self._rooms.get(room)
        return list(data.gaps) if data else []

    def in_gap(self, room: str, message_id: int) -> bool:
        """True when ``message_id`` lies in an unknown stretch of the room's history."""
        data = self._rooms.get(room)
        return data is not None and data.in_gap(message_id)

    def newest_id(self, room: str) -> int | None:
        data = self._rooms.get(room)
        return data.ids[-1] if data and data.ids else None

    def oldest_id(self, room: str) -> int | None:
        data = self._rooms.get(room)
        return data.ids[0] if data and data.ids else None

    def row_of(self, msg: Message) -> int | None:
        data = self._rooms.get(msg.room)
        if data is None:
            return None
        if msg.id is not None:
            i = bisect.bisect_left(data.ids, msg.id)
            if i < len(data.ids) and data.ids[i] == msg.id:
                return data.confirmed_row(i)
            return None
        for j, pending in enumerate(data.pending):
            if pending is msg:
                return data.pending_row(j)
        return None

    # ----- writing
    def add_pending(self, msg: Message) -> None:
        """Place a local echo (id None) by its creation time (see the module doc)."""
        if msg.id is not None:
            raise ValueError("a pending echo has no id yet")
        data = self._room(msg.room)
        row = data.place_pending(msg)
        self._emit(Change("inserted", msg.room, (row,)))

    def apply_changes(self, room: str, msgs: list[Message]) -> int:
        """Upsert changed messages (``message:changes``, ``message:updated``) by id.

        A change to a message older than the oldest one loaded, or inside a gap, is not
        inserted: that would leave a hole in the history between it and the loaded ones
        (``load_older`` pages from the oldest id, a gap is filled from its edges). It is
        loaded in its current state when scrolled to.
        Returns how many new rows were made.
        """
        data = self._room(room)
        oldest = data.ids[0] if data.ids else None
        keep: list[Message] = []
        for msg in msgs:
            data.seq = max(data.seq, msg.seq)
            if msg.id is None:
                continue
            if msg.id in data.by_id or (
                (oldest is None or msg.id > oldest) and not data.in_gap(msg.id)
            ):
                keep.append(msg)
        return self.add_many(room, keep) if keep else 0

    def refresh(self, msg: Message, fields: set[str]) -> None:
        """Tell listeners a held message changed in place (``fields`` as in Change)."""
        self._updated(msg, fields)

    def set_pending_edit(self, room: str, message_id: int, text: str | None) -> Message | None:
        """Show an own edit at once (``text``) until the server acks it; None: undo."""
        msg = self.get(room, message_id)
        if msg is None:
            return None
        msg.pending_edit = text
        self._updated(msg, {"text", "edited"})
        return msg

    def drop_message(self, room: str, message_id: int) -> None:
        """Mark a message deleted locally (an acked delete whose tombstone is applied)."""
        msg = self.get(room, message_id)
        if msg is not None and not msg.deleted:
            self._drop_media(msg)
            msg.deleted = True
            msg.text = ""
            msg.image = msg.file = msg.reply_to = None
            msg.local_image = None
            msg.reactions = ()
            msg.mentions = ()
            msg.pending_edit = None
            self._updated(msg, {"deleted", "text", "image", "file", "reactions", "reply_to"})
            self._update_quotes(self._room(room), msg)

    def add(self, msg: Message) -> bool:
        """Insert or merge one server message; True if it made a new row."""
        return self.add_many(msg.room, [msg]) > 0

    def add_many(self, room: str, msgs: list[Message]) -> int:
        """Insert/merge a batch of server messages of one room; returns how many are new.

        New rows are reported in one ``inserted`` change (indexes after the insert).
        """
        data = self._room(room)
        new_msgs: list[Message] = []
        inserted = 0
        for msg in msgs:
            if msg.id is None:
                raise ValueError("server messages carry an id")
            data.seq = max(data.seq, msg.seq)
            existing = data.by_id.get(msg.id)
            if existing is not None:
                self._merge(data, existing, msg)
                continue
            echo = self._take_echo(data, msg)
            if echo is not None:
                # report what is inserted so far, then the echo leaving the pending tail,
                # so every change's row indexes match the rows at the moment it is emitted
                self._emit_inserted(room, new_msgs)
                inserted += len(new_msgs)
                new_msgs = []
                row = data.remove_pending_at(data.pending.index(echo))
                self._emit(Change("removed", room, (row,)))
                msg.status = max(msg.status, DeliveryStatus.SENT)
                if echo.local_image is not None and msg.image is not None:
                    msg.local_image = echo.local_image
                if echo.pending_edit is not None:  # an edit made while it was in flight
                    msg.pending_edit = echo.pending_edit
            self._apply_floors(data, msg)
            data.insert_confirmed(bisect.bisect_left(data.ids, msg.id), msg)
            new_msgs.append(msg)
        self._emit_inserted(room, new_msgs)
        return inserted + len(new_msgs)

    def add_range(
        self,
        room: str,
        msgs: list[Message],
        *,
        older_more: bool = True,
        newer_more: bool = True,
        after: int | None = None,
        before: int | None = None,
    ) -> int:
        """Insert a contiguous run of history and keep the room's gaps true; new rows.

        ``msgs`` holds every message of the room between its first and last id (history
        pages, which are contiguous). ``older_more``/``newer_more`` are the pages'
        ``has_more``: False says the run reaches the room's first or newest message.
        ``after``/``before`` name the held id the run was paged from (``message:history``
        ``after``/``before``): the run then joins that id with nothing between.
        """
        data = self._room(room)
        held_lo = data.ids[0] if data.ids else None
        held_hi = data.ids[-1] if data.ids else None
        ids = [m.id for m in msgs if m.id is not None]
        if not ids:
            # an empty page: nothing lies between its anchor and the next held id
            if after is not None and not newer_more:
                data.gaps = [g for g in data.gaps if g[0] < after]
            elif after is not None:
                data.gaps = [g for g in data.gaps if g[0] != after]
            if before is not None:
                data.gaps = [g for g in data.gaps if g[1] != before]
            return 0
        first, last = min(ids), max(ids)
        # what is now known to be held without a hole: [lo_known, hi_known]
        lo_known = after if after is not None else (first if older_more else -1)
        hi_known = before if before is not None else (last if newer_more else 1 << 62)
        gaps: list[tuple[int, int]] = []
        for lo, hi in data.gaps:
            if hi_known <= lo or lo_known >= hi:
                gaps.append((lo, hi))
                continue
            if lo_known > lo:
                gaps.append((lo, first))
            if hi_known < hi:
                gaps.append((last, hi))
        if held_lo is not None and held_hi is not None:
            if hi_known < held_lo:
                gaps.append((last, held_lo))
            elif lo_known > held_hi:
                gaps.append((held_hi, first))
        data.gaps = sorted(g for g in gaps if g[0] < g[1])
        return self.add_many(room, msgs)

    def _emit_inserted(self, room: str, new_msgs: list[Message]) -> None:
        if new_msgs:
            rows = tuple(sorted(self.row_of(m) or 0 for m in new_msgs))
            self._emit(Change("inserted", room, rows))

    def mark_failed(self, client_id: str, error: str, retryable: bool = True) -> Message | None:
        msg = self._pending_by_cid(client_id)
        if msg is None:
            return None
        msg.status = DeliveryStatus.FAILED
        msg.error = error
        msg.retryable = retryable
        self._updated(msg, {"status", "error"})
        return msg

    def mark_pending(self, client_id: str) -> Message | None:
        """Back to pending (the user pressed retry)."""
        msg = self._pending_by_cid(client_id)
        if msg is None:
            return None
        msg.status = DeliveryStatus.PENDING
        msg.error = None
        msg.retryable = True
        self._updated(msg, {"status", "error"})
        return msg

    def remove_pending(self, client_id: str) -> bool:
        """Drop an unsent echo (the user discarded it)."""
        msg = self._pending_by_cid(client_id)
        if msg is None:
            return False
        data = self._rooms[msg.room]
        row = data.remove_pending_at(data.pending.index(msg))
        self._emit(Change("removed", msg.room, (row,)))
        return True

    def apply_status(
        self, room: str, up_to: int, state: DeliveryStatus, count: int = 0, of: int = 0
    ) -> list[Message]:
        """Raise every own message <= up_to to at least ``state``; returns those changed."""
        data = self._room(room)
        if up_to > data.floors.get(state, 0):
            data.floors[state] = up_to
        changed: list[Message] = []
        end = bisect.bisect_right(data.ids, up_to)
        for msg in data.confirmed[:end]:
            if not self._is_own(msg) or msg.status >= state:
                if msg.id == up_to and self._is_own(msg) and of:
                    self._set_receipts(msg, state, count, of)
                continue
            msg.status = state
            fields = {"status"}
            if msg.id == up_to and of:
                self._set_receipts(msg, state, count, of)
                fields.add("receipts")
            changed.append(msg)
            self._updated(msg, fields)
        return changed

    def set_reactions(
        self, room: str, message_id: int, reactions: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
        """Replace a message's reactions (v2); the old ones, or None if it is not held."""
        msg = self.get(room, message_id)
        if msg is None:
            return None
        old = msg.reactions
        if old != reactions:
            msg.reactions = reactions
            self._updated(msg, {"reactions"})
        return old

    def set_mentions(self, room: str, message_id: int, mentions: tuple[str, ...] | None) -> None:
        """Replace a message's server-computed mentions (an edit recomputes them)."""
        msg = self.get(room, message_id)
        if msg is not None and msg.mentions != mentions:
            msg.mentions = mentions
            self._updated(msg, {"mentions"})

    def clear_room(self, room: str) -> None:
        if self._rooms.pop(room, None) is not None:
            self._emit(Change("reset", room))

    def clear(self) -> None:
        rooms = list(self._rooms)
        self._rooms.clear()
        for room in rooms:
            self._emit(Change("reset", room))

    # ----- internals
    def _room(self, room: str) -> _RoomMessages:
        data = self._rooms.get(room)
        if data is None:
            data = self._rooms[room] = _RoomMessages()
        return data

    def _is_own(self, msg: Message) -> bool:
        return (
            msg.sender is not None
            and self.own_username is not None
            and msg.sender.lower() == self.own_username.lower()
        )

    def _take_echo(self, data: _RoomMessages, msg: Message) -> Message | None:
        if msg.client_id is None or not self._is_own(msg):
            return None
        for echo in data.pending:
            if echo.client_id == msg.client_id:
                return echo
        return None

    def _pending_by_cid(self, client_id: str) -> Message | None:
        for data in self._rooms.values():
            for msg in data.pending:
                if msg.client_id == client_id:
                    return msg
        return None

    def _apply_floors(self, data: _RoomMessages, msg: Message) -> None:
        if not self._is_own(msg) or msg.id is None:
            return
        for state, up_to in data.floors.items():
            if msg.id <= up_to and msg.status < state:
                msg.status = state

    def _merge(self, data: _RoomMessages, existing: Message, incoming: Message) -> None:
        fields: set[str] = set()
        if incoming.receipts is not None and incoming.receipts != existing.receipts:
            existing.receipts = incoming.receipts
            fields.add("receipts")
        if self._is_own(existing) and existing.status < incoming.status <= DeliveryStatus.READ:
            existing.status = incoming.status
            fields.add("status")
        if incoming.image is not None and existing.image is None:
            existing.image = incoming.image
            fields.add("image")
        if incoming.seq > existing.seq:
            fields |= self._merge_change(existing, incoming)
            if fields & {"text", "deleted"}:
                self._update_quotes(data, existing)
        if fields:
            self._updated(existing, fields)

    def _merge_change(self, existing: Message, incoming: Message) -> set[str]:
        """Take a newer server state (edit, delete, reactions); the names that changed.

        ``image.thumb`` may be null in ``message:updated``: the thumbnail held stays.
        """
        fields: set[str] = set()
        existing.seq = incoming.seq
        if incoming.deleted and not existing.deleted:
            self._drop_media(existing)
        for name in ("text", "edited_ts", "deleted", "reply_to", "reactions", "mentions",
                     "file"):
            if getattr(existing, name) != getattr(incoming, name):
                setattr(existing, name, getattr(incoming, name))
                fields.add("edited" if name == "edited_ts" else name)
        if incoming.image is not None:
            if incoming.image.thumb is None and existing.image is not None:
                incoming.image.thumb = existing.image.thumb
            if incoming.image != existing.image:
                existing.image = incoming.image
                fields.add("image")
        elif existing.image is not None and incoming.deleted:
            existing.image = None
            existing.local_image = None
            fields.add("image")
        if existing.pending_edit is not None and (
            incoming.deleted or incoming.text == existing.pending_edit
        ):
            existing.pending_edit = None
            fields.add("text")
        return fields

    def _drop_media(self, msg: Message) -> None:
        ids = [info.id for info in (msg.image, msg.file) if info is not None and info.id]
        if ids:
            self.on_media_dropped(ids)

    def _update_quotes(self, data: _RoomMessages, parent: Message) -> None:
        """Replies quoting ``parent`` show its current text, or that it is deleted."""
        if parent.id is None:
            return
        for msg in data.confirmed:
            quote = msg.reply_to
            if quote is None or quote.id != parent.id:
                continue
            text = "" if parent.deleted else parent.text[:200]
            if quote.text != text or quote.deleted != parent.deleted:
                quote.text = text
                quote.deleted = parent.deleted
                self._updated(msg, {"reply_to"})

    @staticmethod
    def _set_receipts(msg: Message, state: DeliveryStatus, count: int, of: int) -> None:
        receipts = msg.receipts or Receipts()
        if state == DeliveryStatus.READ:
            receipts.read = max(receipts.read, count)
            receipts.delivered = max(receipts.delivered, count)
        else:
            receipts.delivered = max(receipts.delivered, count)
        receipts.of = of
        msg.receipts = receipts

    def _updated(self, msg: Message, fields: set[str]) -> None:
        row = self.row_of(msg)
        if row is not None:
            self._emit(Change("updated", msg.room, (row,), frozenset(fields)))


def first_unread_id(
    msgs: list[Message], unread: int, own_username: str | None, read_up_to: int | None = None
) -> int | None:
    """The id of the first message the user has not read.

    Protocol v2 gives the read position (``read_up_to``): the first message after it
    that is not the user's own, not deleted and not a system message. Else, from
    protocol v1's ``unread``:

    v1 tells a room's unread count, not a position: the unread messages are taken to be
    the last ``unread`` confirmed messages not sent by the user, and the divider goes
    above the first of them. This is the one place that derives it; a v2 ``read_up_to``
    would replace the body (the first message after that id) and nothing else.
    """
    if unread <= 0:
        return None
    own = own_username.lower() if own_username else None
    if read_up_to is not None:
        for msg in msgs:
            if (msg.id is None or msg.id <= read_up_to or msg.deleted
                    or msg.kind == "system"
                    or (own is not None and (msg.sender or "").lower() == own)):
                continue
            return msg.id
        return None
    left = unread
    found: int | None = None
    for msg in reversed(msgs):
        if msg.id is None or (own is not None and (msg.sender or "").lower() == own):
            continue
        found = msg.id
        left -= 1
        if left == 0:
            break
    return found
