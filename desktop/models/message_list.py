"""MessageListModel: one room's timeline over MessageStore, for a QListView + delegate.

Floods of inserts are coalesced: the store notifies per batch, the model schedules one
flush on a short single-shot timer and announces the difference in a few
beginInsertRows calls. When only inserts happened since the last flush (a history page,
new messages) the flush costs what was inserted, not the room: the new rows' places come
from the store's id index (``MessageStore.row_of``) and each run goes in with one
beginInsertRows. Anything else (a removal, an echo replaced by its server copy, a reset)
falls back to a full diff of the room (``RowMirror.sync``). A status change emits dataChanged for that row and only the
StatusRole/ReceiptTextRole.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Hashable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
    QTimer,
)

from desktop.models.row_sync import MirrorListModel, RowMirror
from desktop.state.format import human_size
from desktop.state.messages import MessageStore, first_unread_id
from desktop.state.types import Change, DeliveryStatus, Message

logger = logging.getLogger(__name__)

HEADER_GAP_MS = 5 * 60 * 1000
FLUSH_INTERVAL_MS = 8



class MessageRoles(IntEnum):
    ItemRole = Qt.ItemDataRole.UserRole
    IdRole = Qt.ItemDataRole.UserRole + 1
    SenderRole = Qt.ItemDataRole.UserRole + 2
    TimestampRole = Qt.ItemDataRole.UserRole + 3
    KindRole = Qt.ItemDataRole.UserRole + 4
    TextRole = Qt.ItemDataRole.UserRole + 5
    ImageRole = Qt.ItemDataRole.UserRole + 6
    SystemRole = Qt.ItemDataRole.UserRole + 7
    StatusRole = Qt.ItemDataRole.UserRole + 8
    IsOwnRole = Qt.ItemDataRole.UserRole + 9
    ClientIdRole = Qt.ItemDataRole.UserRole + 10
    ShowHeaderRole = Qt.ItemDataRole.UserRole + 11
    DaySeparatorRole = Qt.ItemDataRole.UserRole + 12
    ReceiptTextRole = Qt.ItemDataRole.UserRole + 13
    # protocol v2 (sections 10-17)
    SeqRole = Qt.ItemDataRole.UserRole + 14
    EditedTsRole = Qt.ItemDataRole.UserRole + 15  # int ms or None
    DeletedRole = Qt.ItemDataRole.UserRole + 16
    ReplyToRole = Qt.ItemDataRole.UserRole + 17  # ReplyPreview or None
    ReactionsRole = Qt.ItemDataRole.UserRole + 18  # ((emoji, (user, ...)), ...)
    MentionsRole = Qt.ItemDataRole.UserRole + 19  # (name, ...) or None (v1)
    FileRole = Qt.ItemDataRole.UserRole + 20  # FileInfo or None
    EditPendingRole = Qt.ItemDataRole.UserRole + 21  # an own edit not yet acked


_FIELD_ROLES: dict[str, tuple[int, ...]] = {
    "status": (MessageRoles.StatusRole, MessageRoles.ReceiptTextRole),
    "receipts": (MessageRoles.ReceiptTextRole,),
    "error": (MessageRoles.ReceiptTextRole,),
    "image": (MessageRoles.ImageRole, Qt.ItemDataRole.DisplayRole),
    # protocol v2: a change of these also changes the row's height (ItemRole included,
    # so a delegate caching layouts per row relays it out)
    "text": (MessageRoles.ItemRole, MessageRoles.TextRole, Qt.ItemDataRole.DisplayRole,
             MessageRoles.EditPendingRole),
    "edited": (MessageRoles.ItemRole, MessageRoles.EditedTsRole),
    "deleted": (MessageRoles.ItemRole, MessageRoles.DeletedRole, MessageRoles.TextRole,
                Qt.ItemDataRole.DisplayRole),
    "reply_to": (MessageRoles.ItemRole, MessageRoles.ReplyToRole),
    "reactions": (MessageRoles.ItemRole, MessageRoles.ReactionsRole),
    "mentions": (MessageRoles.MentionsRole,),
    "file": (MessageRoles.ItemRole, MessageRoles.FileRole),
}
# Roles that are just a Message field, read as they are.
_PLAIN_FIELDS: dict[int, str] = {
    MessageRoles.IdRole: "id",
    MessageRoles.SenderRole: "sender",
    MessageRoles.TimestampRole: "ts",
    MessageRoles.KindRole: "kind",
    MessageRoles.TextRole: "text",
    MessageRoles.ImageRole: "image",
    MessageRoles.SystemRole: "system",
    MessageRoles.ClientIdRole: "client_id",
    MessageRoles.SeqRole: "seq",
    MessageRoles.EditedTsRole: "edited_ts",
    MessageRoles.DeletedRole: "deleted",
    MessageRoles.ReplyToRole: "reply_to",
    MessageRoles.ReactionsRole: "reactions",
    MessageRoles.MentionsRole: "mentions",
    MessageRoles.FileRole: "file",
}
_NEIGHBOUR_ROLES = [MessageRoles.ShowHeaderRole, MessageRoles.DaySeparatorRole]


def message_key(msg: Message) -> Hashable:
    """A row's identity that survives an echo being replaced by its acked copy."""
    if msg.client_id and msg.sender:
        return ("c", msg.sender.lower(), msg.client_id)
    return ("i", msg.id)


DELETED_TEXT = "Message deleted"


def display_text(msg: Message) -> str:
    if msg.deleted:
        return DELETED_TEXT
    text = msg.shown_text
    if msg.file is not None:
        return f"File: {msg.file.name}" + (f" — {text}" if text else "")
    if msg.kind == "image":
        name = msg.image.name if msg.image else "image"
        return f"Image: {name}" + (f" — {text}" if text else "")
    return text


def accessible_text(msg: Message) -> str:
    """What a screen reader says for a row: "alice, 10:42: hello"."""
    when = dt.datetime.fromtimestamp(msg.ts / 1000).strftime("%H:%M")
    if msg.kind == "system":
        return f"{when}: {msg.text}"
    what = display_text(msg)
    if msg.deleted:
        return f"{msg.sender or 'someone'}, {when}: {what}"
    if msg.edited_ts:
        what += " (edited)"
    if msg.kind == "image" and msg.image is not None and msg.image.size > 0:
        what = f"Image: {msg.image.name}, {human_size(msg.image.size)}" + (
            f" — {msg.text}" if msg.text else ""
        )
    return f"{msg.sender or 'someone'}, {when}: {what}"


def edited_text(edited_ts: int) -> str:
    """"Edited 24 Nov 2026 10:42", in local time (the "(edited)" mark's tooltip)."""
    when = dt.datetime.fromtimestamp(edited_ts / 1000)
    return "Edited " + when.strftime("%d %b %Y %H:%M")


def day_label(ts_ms: int, today: dt.date | None = None) -> str:
    """"Today", "Yesterday" or "Mon 24 Nov 2026", in local time."""
    day = dt.datetime.fromtimestamp(ts_ms / 1000).date()
    today = today or dt.date.today()
    if day == today:
        return "Today"
    if day == today - dt.timedelta(days=1):
        return "Yesterday"
    return day.strftime("%a %d %b %Y")


def receipt_text(msg: Message) -> str:
    status = msg.status
    if status == DeliveryStatus.FAILED:
        reason = msg.error or "not sent"
        if not msg.retryable:
            return f"Not sent: {reason} — right-click to delete"
        return f"Failed: {reason} — click to retry"
    if status == DeliveryStatus.PENDING:
        return "Sending…"
    r = msg.receipts
    if status == DeliveryStatus.READ:
        if r and r.of > 1 and r.read:
            return f"Read by {r.read} of {r.of}"
        return "Read"
    if status == DeliveryStatus.DELIVERED:
        if r and r.of > 1 and r.delivered:
            return f"Delivered to {r.delivered} of {r.of}"
        return "Delivered"
    return "Sent"


class MessageListModel(MirrorListModel[Message]):
    """The rows of one room. Roles: MessageRoles (ItemRole returns the Message)."""

    Roles = MessageRoles

    def __init__(
        self,
        store: MessageStore,
        room: str,
        own_username: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self.room = room
        self.own_username = own_username
        self._mirror: RowMirror[Message] = RowMirror(self, message_key)
        self._dirty_keys: dict[Hashable, set[int]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self.flush)
        self._pending_sync = False
        # messages inserted since the last flush, while only inserts happened (None: a
        # removal or reset came too, the next flush diffs the whole room)
        self._inserted: list[Message] | None = []
        # the room's v2 read position (``Room.read_up_to``), set by the client
        self.read_position: Callable[[], int | None] = lambda: None
        self._unsubscribe = store.subscribe(self._on_store_change)
        self._mirror.sync(store.messages(room))
        self.destroyed.connect(self._unsubscribe)

    # ----- store -> model
    def _on_store_change(self, change: Change) -> None:
        if change.key != self.room:
            return
        if change.kind == "updated":
            roles: set[int] = set()
            for name in change.fields:
                roles.update(_FIELD_ROLES.get(name, (MessageRoles.ItemRole,)))
            msg = self._store.message_at(self.room, change.rows[0]) if change.rows else None
            if msg is None:
                return
            key = message_key(msg)
            if self._pending_sync:
                self._dirty_keys.setdefault(key, set()).update(roles)
                return
            row = self._mirror.row_of_key(key)
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, sorted(roles))
            return
        if change.kind == "inserted" and self._inserted is not None:
            for row in change.rows:
                msg = self._store.message_at(self.room, row)
                if msg is not None:
                    self._inserted.append(msg)
        else:
            self._inserted = None
        self._pending_sync = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Announce every store change since the last flush (the timer calls this)."""
        self._timer.stop()
        if not self._pending_sync:
            return
        self._pending_sync = False
        inserted, self._inserted = self._inserted, []
        touched = None
        if inserted is not None:
            touched = self._mirror.insert_at(self._rows_of(inserted))
        if touched is None:
            touched = self._mirror.sync(self._store.messages(self.room))
        for row in touched:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [])
        dirty, self._dirty_keys = self._dirty_keys, {}
        already = set(touched)
        for key, roles in dirty.items():
            dirty_row = self._mirror.row_of_key(key)
            if dirty_row is not None and dirty_row not in already:
                idx = self.index(dirty_row)
                self.dataChanged.emit(idx, idx, sorted(roles))

    def _rows_of(self, inserted: list[Message]) -> list[tuple[int, Message]] | None:
        """Where each inserted message now sits in the store, ascending (None when one
        is not held any more)."""
        if len(self._mirror.rows) + len(inserted) != self._store.count(self.room):
            return None
        placed: list[tuple[int, Message]] = []
        for msg in inserted:
            row = self._store.row_of(msg)
            if row is None:
                return None
            placed.append((row, msg))
        placed.sort(key=lambda pair: pair[0])
        return placed

    def row_for_id(self, message_id: int) -> int | None:
        if not self._pending_sync:  # the rows are the store's: its id index answers
            msg = self._store.get(self.room, message_id)
            if msg is None:
                return None
            row = self._store.row_of(msg)
            if row is not None and self.item_at(row) is msg:
                return row
        rows = self._mirror.rows
        for row in range(len(rows) - 1, -1, -1):  # the rows asked about are recent ones
            if rows[row].id == message_id:
                return row
        return None

    def gap_rows(self) -> list[int]:
        """The rows with an unknown stretch of history just above them, ascending (the
        row of each gap's ``hi``; see MessageStore.add_range)."""
        rows = []
        for _lo, hi in self._store.gaps(self.room):
            row = self.row_for_id(hi)
            if row is not None:
                rows.append(row)
        return sorted(rows)

    def first_unread_id(self, unread: int, read_up_to: int | None = None) -> int | None:
        """Where the "New messages" divider goes (see messages.first_unread_id), from
        ``read_up_to`` when given (the read position as the room was opened), else the
        room's current one."""
        return first_unread_id(
            self._mirror.rows, unread, self.own_username or self._store.own_username,
            read_up_to if read_up_to is not None else self.read_position(),
        )

    def row_for_client_id(self, client_id: str) -> int | None:
        for row in range(len(self._mirror.rows) - 1, -1, -1):
            if self._mirror.rows[row].client_id == client_id:
                return row
        return None

    def message_at(self, row: int) -> Message | None:
        return self.item_at(row)

    def layout_inputs(self, row: int) -> tuple[Message, bool, bool, str, str] | None:
        """(message, own, header, day separator, display text) of ``row`` in one call:
        what the delegate needs to lay a row out, without a role lookup each."""
        rows = self._mirror.rows
        if not 0 <= row < len(rows):
            return None
        msg = rows[row]
        return (msg, self._is_own(msg), self._show_header(row), self._day_separator(row),
                display_text(msg))

    # ----- QAbstractListModel
    def item_data(self, row: int, msg: Message, role: int) -> Any:
        """Overrides MirrorListModel.item_data."""
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(msg)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = receipt_text(msg) if self._is_own(msg) else ""
            if msg.edited_ts and not msg.deleted:
                tip = "\n".join(t for t in (tip, edited_text(msg.edited_ts)) if t)
            return tip or None
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return accessible_text(msg)
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return receipt_text(msg) if self._is_own(msg) else ""
        if role < Qt.ItemDataRole.UserRole:
            return None
        field = _PLAIN_FIELDS.get(role)
        if field is not None:
            if role == MessageRoles.TextRole:
                return msg.shown_text
            return getattr(msg, field)
        if role == MessageRoles.ItemRole:
            return msg
        if role == MessageRoles.StatusRole:
            return int(msg.status)
        if role == MessageRoles.IsOwnRole:
            return self._is_own(msg)
        if role == MessageRoles.ShowHeaderRole:
            return self._show_header(row)
        if role == MessageRoles.DaySeparatorRole:
            return self._day_separator(row)
        if role == MessageRoles.ReceiptTextRole:
            return receipt_text(msg) if self._is_own(msg) else ""
        if role == MessageRoles.EditPendingRole:
            return msg.pending_edit is not None
        return None

    # ----- helpers
    def _is_own(self, msg: Message) -> bool:
        own = self.own_username or self._store.own_username
        return bool(own and msg.sender and msg.sender.lower() == own.lower())

    def _day_separator(self, row: int) -> str:
        rows = self._mirror.rows
        msg = rows[row]
        if row > 0:
            prev = rows[row - 1]
            if _local_day(prev.ts) == _local_day(msg.ts):
                return ""
        return day_label(msg.ts)

    def _show_header(self, row: int) -> bool:
        rows = self._mirror.rows
        msg = rows[row]
        if msg.kind == "system":
            return False
        if row == 0:
            return True
        prev = rows[row - 1]
        if prev.kind == "system" or prev.sender != msg.sender:
            return True
        if _local_day(prev.ts) != _local_day(msg.ts):
            return True
        return msg.ts - prev.ts > HEADER_GAP_MS


def _local_day(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms / 1000).date()
