"""The Storage interface: everything the handlers need from persistence, as async methods.

Backends (SQLite today) implement it without ever blocking the event loop. Nothing here
knows about Socket.IO or HTTP; records are plain dataclasses the wire layer turns into
protocol objects.

Every change to a room's messages (a new message, an edit, a delete, a reaction) takes the
room's change counter ``seq`` one up and stamps it on the message, in the same transaction
that stores the change. A backend must keep both ``id`` and ``seq`` increasing in commit
order within a room (see docs/architecture.md, "Change sequence"): it serialises the
writers of one room on the room's row before it allocates either number.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

from server.storage.base_admin import AccountState, AdminStorage
from server.storage.base_v2 import FileRecord, FileStorage, SearchStorage

RoomKind = Literal["public", "private", "dm"]
MessageKind = Literal["text", "image", "file", "system"]
PositionState = Literal["delivered", "read"]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class UserCredentials:
    user: User
    password_hash: str
    # a disabled account is refused at sign-in; a deleted one has no password at all
    state: AccountState = "active"


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: str
    mime: str
    name: str
    size: int
    width: int
    height: int
    thumb: bytes
    thumb_mime: str


@dataclass(frozen=True, slots=True)
class NewImage:
    """An image ready to store: sniffed, measured and thumbnailed already."""

    id: str
    mime: str
    name: str
    data: bytes
    width: int
    height: int
    thumb: bytes
    thumb_mime: str


@dataclass(frozen=True, slots=True)
class ReplyPreview:
    """The parent of a reply as it is now (read time, not send time)."""

    id: int
    sender: str | None
    kind: MessageKind
    text: str  # at most protocol.REPLY_PREVIEW_CHARS code points
    deleted: bool


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji on a message and who set it, in the order they did."""

    emoji: str
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Mentions:
    """Who a text mentions, computed by the server when the text is stored.

    ``names`` is the wire list (display names in order of first appearance, plus "@room");
    ``user_ids`` and ``room`` are what the mention counts are computed from.
    """

    names: tuple[str, ...] = ()
    user_ids: tuple[int, ...] = ()
    room: bool = False


NO_MENTIONS = Mentions()


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    room: str
    sender_id: int | None
    sender: str | None
    ts: int
    kind: MessageKind
    text: str
    client_id: str | None
    image: ImageRecord | None
    system_event: str | None
    system_user: str | None
    seq: int = 0
    edited_ts: int | None = None
    deleted: bool = False
    reply_to: ReplyPreview | None = None
    reactions: tuple[Reaction, ...] = ()
    mentions: tuple[str, ...] = ()
    file: FileRecord | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    room: str
    sender_id: int | None
    ts: int
    kind: MessageKind
    text: str
    client_id: str | None = None
    image: NewImage | None = None
    system_event: str | None = None
    system_user: str | None = None
    # a message of the same room, checked by the handler before the insert
    reply_to: int | None = None
    mentions: Mentions = NO_MENTIONS
    # an upload of the sender this message uses (section 17); claimed in the insert's
    # transaction: as the ``image`` when one is given, else as the message's ``file``
    upload_id: str | None = None


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: str
    kind: RoomKind
    topic: str
    owner: str | None
    members: int
    # display names of both users of a DM, so each side can be named after the other
    dm_users: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as one user sees it (the protocol's Room object before encoding)."""

    room: RoomRecord
    joined: bool
    unread: int
    last_message: MessageRecord | None
    seq: int = 0  # the room's change counter when this view was read
    read_up_to: int = 0  # the viewer's read position (a message id)
    mentions: int = 0  # unread messages that mention the viewer


# What a change to an existing message came to. "changed" and "unchanged" carry the message
# (its state after the change); the others name why nothing was stored.
ChangeStatus = Literal[
    "changed", "unchanged", "not_found", "forbidden", "system", "deleted", "too_many"
]


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    status: ChangeStatus
    message: MessageRecord | None = None


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """``message:changes``: current states with seq > since, ascending by seq."""

    messages: list[MessageRecord]
    has_more: bool
    seq: int  # the room's counter in the same snapshot


@dataclass(frozen=True, slots=True)
class MemberPosition:
    user_id: int
    name: str
    delivered: int
    read: int


@dataclass(frozen=True, slots=True)
class PositionChange:
    old_delivered: int
    new_delivered: int
    old_read: int
    new_read: int


@dataclass(frozen=True, slots=True)
class SenderSpan:
    """The newest message of one sender inside a receipt's span."""

    sender_id: int
    sender: str
    up_to: int


@dataclass(frozen=True, slots=True)
class MediaBlob:
    room: str
    mime: str
    name: str
    data: bytes


class Storage(FileStorage, SearchStorage, AdminStorage, abc.ABC):
    """Async persistence. Every write is committed before its coroutine returns."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def invalidate_rooms(self, room_ids: list[str] | None = None) -> None:
        """Forget cached room and membership state (``None``: all of it).

        A node of a cluster calls this when another node reports that a room changed, so a
        backend that caches rooms in memory reloads them from the shared database. A backend
        with no cache has nothing to forget, hence the default.
        """

    # users and tokens
    @abc.abstractmethod
    async def get_credentials(self, name: str) -> UserCredentials | None:
        """The user whose name equals ``name`` ignoring case (in any state)."""

    @abc.abstractmethod
    async def create_user(self, name: str, password_hash: str, ts: int) -> User | None:
        """A new user, or None when the name is taken (ignoring case)."""

    @abc.abstractmethod
    async def get_user(self, name: str) -> User | None:
        """The user named ``name`` ignoring case; None for a deleted account."""

    @abc.abstractmethod
    async def add_token(self, token_hash: str, user_id: int, expires_ms: int) -> None: ...

    @abc.abstractmethod
    async def user_for_token(self, token_hash: str, now_ms: int) -> User | None:
        """The token's user; None for an unknown or expired token or a disabled account."""

    @abc.abstractmethod
    async def delete_token(self, token_hash: str) -> None: ...

    @abc.abstractmethod
    async def delete_user_tokens(self, user_id: int, keep: str | None = None) -> int:
        """Revoke every token of the user except ``keep`` (a token hash); how many went."""

    @abc.abstractmethod
    async def set_password(self, user_id: int, password_hash: str) -> None: ...

    @abc.abstractmethod
    async def purge_expired_tokens(self, now_ms: int) -> int:
        """Delete tokens that expired by ``now_ms``; how many went."""

    @abc.abstractmethod
    async def similar_user_exists(self, name: str) -> bool:
        """True when a user's name looks like ``name`` (same confusable skeleton)."""

    # rooms and membership
    @abc.abstractmethod
    async def create_room(
        self, room_id: str, kind: RoomKind, topic: str, owner_id: int | None, member_ids: list[int]
    ) -> bool:
        """Create a room with its first members; False when the id is taken."""

    @abc.abstractmethod
    async def get_room(self, room_id: str) -> RoomRecord | None: ...

    @abc.abstractmethod
    async def room_seqs(self) -> dict[str, int]:
        """Every room's change counter, read once at start."""

    @abc.abstractmethod
    async def set_topic(self, room_id: str, topic: str) -> None: ...

    @abc.abstractmethod
    async def delete_room(self, room_id: str) -> None:
        """Delete the room, its memberships, messages and images."""

    @abc.abstractmethod
    async def is_member(self, room_id: str, user_id: int) -> bool: ...

    @abc.abstractmethod
    async def add_member(self, room_id: str, user_id: int) -> bool:
        """Add a member whose positions start at the room's newest message; False if one already."""

    @abc.abstractmethod
    async def remove_member(self, room_id: str, user_id: int) -> bool: ...

    @abc.abstractmethod
    async def member_room_ids(self, user_id: int) -> list[str]: ...

    @abc.abstractmethod
    async def members(self, room_id: str) -> list[MemberPosition]: ...

    @abc.abstractmethod
    async def list_rooms(self, user_id: int, public_limit: int | None = None) -> list[RoomView]:
        """Every room the user is in, plus the public rooms they are not in.

        With ``public_limit``, only that many of the latter: the biggest by member count.
        """

    @abc.abstractmethod
    async def room_view(self, room_id: str, user_id: int) -> RoomView | None: ...

    @abc.abstractmethod
    async def member_views(self, room_id: str, user_ids: list[int]) -> dict[int, RoomView]:
        """The room as each of these members sees it, computed in one pass."""

    # messages
    @abc.abstractmethod
    async def insert_message(self, message: NewMessage) -> tuple[MessageRecord, bool]:
        """Store durably; returns (stored, created). A repeated (sender, client_id) is not stored
        again: the first one comes back with created=False."""

    @abc.abstractmethod
    async def message_by_client_id(
        self, sender_id: int, client_id: str
    ) -> MessageRecord | None: ...

    @abc.abstractmethod
    async def send_context(
        self, room_id: str, user_id: int, client_id: str
    ) -> tuple[MessageRecord | None, RoomRecord | None, bool]:
        """What a send needs in one round trip: the message already stored under
        (user, client_id), the room, and whether the user is a member."""

    @abc.abstractmethod
    async def history(
        self, room_id: str, before: int | None, after: int | None, limit: int
    ) -> tuple[list[MessageRecord], bool]:
        """A page ascending by id, and whether more exist beyond it."""

    @abc.abstractmethod
    async def media(self, image_id: str) -> MediaBlob | None: ...

    @abc.abstractmethod
    async def get_message(self, room_id: str, message_id: int) -> MessageRecord | None:
        """The message ``message_id`` if it belongs to ``room_id``."""

    # changes to existing messages: each one checks its preconditions in the transaction
    # that stores it, so two racing changes (an edit and a delete, say) cannot both win
    @abc.abstractmethod
    async def edit_message(
        self,
        room_id: str,
        message_id: int,
        editor_id: int,
        text: str,
        mentions: Mentions,
        ts: int,
    ) -> ChangeOutcome:
        """Replace the text of the editor's own message. "system" for a system message,
        "forbidden" for someone else's, "deleted", "unchanged" for the same text."""

    @abc.abstractmethod
    async def delete_message(
        self, room_id: str, message_id: int, user_id: int, moderator: bool
    ) -> ChangeOutcome:
        """Turn a message into its tombstone and erase its image bytes in the same commit.
        Allowed for its sender, or any user when ``moderator``; "unchanged" if deleted already."""

    @abc.abstractmethod
    async def set_reaction(
        self, room_id: str, message_id: int, user_id: int, emoji: str, on: bool, max_distinct: int
    ) -> ChangeOutcome:
        """Add or remove the user's ``emoji``. "too_many" when it would be emoji number
        ``max_distinct + 1`` on the message; "unchanged" when the user's state is already so."""

    @abc.abstractmethod
    async def changes(self, room_id: str, since: int, limit: int) -> ChangesPage:
        """The current state of every message whose seq > since, ascending, at most ``limit``."""

    # receipts
    @abc.abstractmethod
    async def advance_position(
        self, room_id: str, user_id: int, state: PositionState, message_id: int
    ) -> PositionChange | None:
        """Move a member's position forward (never back; read implies delivered), clamped to
        the room's newest message. None when the user is not a member. Positions may be
        committed without their own fsync: a lost receipt is resent by the client."""

    @abc.abstractmethod
    async def senders_in_span(
        self, room_id: str, after: int, up_to: int, exclude_user_id: int
    ) -> list[SenderSpan]: ...

    @abc.abstractmethod
    async def count_reached(
        self, room_id: str, state: PositionState, message_id: int, exclude_user_id: int
    ) -> int:
        """How many members other than ``exclude_user_id`` reached ``message_id`` in ``state``."""

    @abc.abstractmethod
    async def message_count(self) -> int: ...
