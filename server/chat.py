"""ChatService: the protocol's behaviour, shared by the Socket.IO namespace and the HTTP API.

It owns the rules (who may do what, what gets stored, who hears about it) and talks to
clients only through ``socketio.AsyncServer.emit``. It never parses transport details: the
namespace and ``http_api`` hand it validated users and payload dicts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import socketio

from server import __version__, auth, media
from server.config import ServerConfig
from server.connections import Connection, ConnectionRegistry, user_channel
from server.errors import ProtocolError, bad_request
from server.protocol import (
    DEFAULT_HISTORY_PAGE,
    GENERAL_ROOM,
    MAX_TOPIC_CHARS,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PROTOCOL_VERSION,
    ErrorCode,
    Event,
    dm_room_id,
    is_valid_room_id,
    is_valid_username,
    parse_dm_id,
)
from server.ratelimit import SlidingWindow
from server.storage.base import (
    MemberPosition,
    MessageRecord,
    NewImage,
    NewMessage,
    PositionState,
    RoomKind,
    RoomRecord,
    Storage,
    User,
)
from server.validation import (
    client_id as check_client_id,
)
from server.validation import (
    history_limit,
    message_id,
    optional_message_id,
    optional_str,
    require_room_id,
    require_str,
)
from server.wire import message_to_wire, messages_to_wire, room_to_wire

logger = logging.getLogger(__name__)

# how long room:updated waits to coalesce further changes to the same room
ROOM_UPDATE_DELAY_S = 0.05

_SYSTEM_TEXT = {
    "created": "{user} created the room",
    "joined": "{user} joined",
    "left": "{user} left",
    "topic": "{user} changed the topic",
    "invited": "{user} was invited",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Metrics:
    """Counters exported on /metrics."""

    messages_total: int = 0
    images_total: int = 0
    logins_total: int = 0
    failed_logins_total: int = 0
    registrations_total: int = 0
    connections_total: int = 0
    refused_connections: Counter[str] = field(default_factory=Counter)
    error_acks: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.time)


@dataclass
class _DeliveryWaiter:
    message_id: int
    pending: set[int]
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ChatService:
    def __init__(self, config: ServerConfig, storage: Storage, sio: socketio.AsyncServer) -> None:
        self.config = config
        self.storage = storage
        self.sio = sio
        self.connections = ConnectionRegistry()
        self.metrics = Metrics()
        self.message_limiter = SlidingWindow(config.rate_limit_messages, config.rate_limit_window_s)
        self.login_limiter = SlidingWindow(config.max_failed_logins_per_minute, 60.0)
        self._waiters: dict[str, list[_DeliveryWaiter]] = {}
        # the session event of each connection whose connect handler has not finished yet
        self._pending_session: dict[str, dict[str, Any]] = {}
        self._updates_due: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if await self.storage.create_room(GENERAL_ROOM, "public", "", None, []):
            logger.info("created the %s room", GENERAL_ROOM)

    # -- identity ---------------------------------------------------------------------------

    def limits(self) -> dict[str, int]:
        return {
            "max_text_chars": self.config.max_text_chars,
            "max_image_bytes": self.config.max_image_bytes,
            "history_limit": self.config.history_limit,
        }

    def session_payload(self, user: User, token: str) -> dict[str, Any]:
        return {
            "user": {"name": user.name},
            "token": token,
            "server": {
                "name": self.config.server_name,
                "version": __version__,
                "protocol": PROTOCOL_VERSION,
                "limits": self.limits(),
            },
        }

    async def login(self, username: object, password: object) -> User:
        """Log in, or register first when the name is free and registration is open."""
        if not is_valid_username(username):
            raise bad_request("username must be 1 to 32 characters of A-Z a-z 0-9 _ . -")
        if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise bad_request(f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
        assert isinstance(username, str)
        key = username.lower()
        if self.login_limiter.exceeded(key):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many failed logins for this user; try again later."
            )
        creds = await self.storage.get_credentials(username)
        if creds is None:
            if not self.config.registration_open:
                self._login_failed(key)
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "Wrong username or password.")
            password_hash = await auth.hash_password(password)
            user = await self.storage.create_user(username, password_hash, now_ms())
            if user is not None:
                logger.info("registered user %s", user.name)
                self.metrics.registrations_total += 1
                await self.join_room(user, GENERAL_ROOM, None)
                self.metrics.logins_total += 1
                return user
            creds = await self.storage.get_credentials(username)  # lost a registration race
            if creds is None:
                raise ProtocolError(ErrorCode.INTERNAL, "Registration failed.")
        if not await auth.verify_password(creds.password_hash, password):
            self._login_failed(key)
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "Wrong username or password.")
        self.metrics.logins_total += 1
        return creds.user

    def _login_failed(self, key: str) -> None:
        self.metrics.failed_logins_total += 1
        self.login_limiter.record(key)

    async def issue_token(self, user: User) -> str:
        token = auth.new_token()
        expires = now_ms() + self.config.token_ttl_days * 86_400_000
        await self.storage.add_token(auth.token_hash(token), user.id, expires)
        return token

    async def user_for_token(self, token: object) -> User:
        if not isinstance(token, str) or not token or len(token) > 512:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "The token is missing or malformed.")
        user = await self.storage.user_for_token(auth.token_hash(token), now_ms())
        if user is None:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "The token is invalid or expired.")
        return user

    async def authenticate(self, credentials: object) -> tuple[User, str]:
        """The user and token for a connect ``auth`` dict (login, register or token resume)."""
        if not isinstance(credentials, dict):
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, "Connect with auth {username, password} or {token}."
            )
        if "token" in credentials:
            token = credentials["token"]
            return await self.user_for_token(token), token
        if "username" in credentials or "password" in credentials:
            user = await self.login(credentials.get("username"), credentials.get("password"))
            return user, await self.issue_token(user)
        raise ProtocolError(
            ErrorCode.UNAUTHORIZED, "Connect with auth {username, password} or {token}."
        )

    async def logout(self, conn: Connection) -> None:
        await self.storage.delete_token(conn.token_hash)

    # -- connections and presence -----------------------------------------------------------

    async def connection_up(self, conn: Connection) -> None:
        """Send ``session`` first, then subscribe to every member room and announce presence."""
        try:
            room_ids = await self.storage.member_room_ids(conn.user.id)
            # subscribe right behind the session event, with no storage round trip between:
            # whatever the client's catch-up history misses then arrives as events
            await self.sio.emit(Event.SESSION, self._pending_session.pop(conn.sid), to=conn.sid)
            await self.sio.enter_room(conn.sid, user_channel(conn.user.id))
            for room_id in room_ids:
                await self.sio.enter_room(conn.sid, room_id)
            if conn.first and room_ids:
                await self._presence(conn.user, room_ids, "online")
        finally:
            conn.ready.set()

    def prepare_session(self, conn: Connection, token: str) -> bool:
        """Register the connection; returns False if the user has too many already."""
        if self.connections.count(conn.user.id) >= self.config.max_connections_per_user:
            return False
        self._pending_session[conn.sid] = self.session_payload(conn.user, token)
        self.connections.add(conn)
        self.metrics.connections_total += 1
        return True

    async def connection_down(self, sid: str) -> None:
        self._pending_session.pop(sid, None)
        conn, last = self.connections.remove(sid)
        if conn is None or not last:
            return
        room_ids = await self.storage.member_room_ids(conn.user.id)
        if room_ids:
            await self._presence(conn.user, room_ids, "offline")

    async def _presence(self, user: User, room_ids: list[str], state: str) -> None:
        # one event per connection however many rooms it shares: emit to the union of rooms
        await self.sio.emit(
            Event.PRESENCE,
            {"user": user.name, "state": state},
            to=room_ids,
            skip_sid=self.connections.sids(user.id) or None,
        )

    async def broadcast_notice(self, text: str, level: str = "info") -> None:
        """Send an operator ``notice`` to every connection (in-process API for operators)."""
        if level not in ("info", "warning"):
            raise ValueError(f"notice level must be info or warning, not {level!r}")
        await self.sio.emit(Event.NOTICE, {"text": text, "level": level})

    # -- rooms ------------------------------------------------------------------------------

    async def _room(self, room_id: object) -> RoomRecord:
        rid = require_room_id(room_id)
        room = await self.storage.get_room(rid)
        if room is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {rid}.")
        return room

    async def _member_room(self, user: User, room_id: object) -> RoomRecord:
        room = await self._room(room_id)
        if not await self.storage.is_member(room.id, user.id):
            raise ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room.id}.")
        return room

    async def room_wire(self, room_id: str, user: User) -> dict[str, Any]:
        view = await self.storage.room_view(room_id, user.id)
        if view is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {room_id}.")
        positions = None
        if view.last_message is not None and view.last_message.sender_id == user.id:
            positions = await self.storage.members(room_id)
        return room_to_wire(view, user, positions)

    async def list_rooms(self, user: User) -> list[dict[str, Any]]:
        views = await self.storage.list_rooms(user.id)
        out = []
        for view in views:
            positions = None
            if view.last_message is not None and view.last_message.sender_id == user.id:
                positions = await self.storage.members(view.room.id)
            out.append(room_to_wire(view, user, positions))
        return out

    def members_wire(self, positions: list[MemberPosition]) -> list[dict[str, Any]]:
        return [
            {"name": p.name, "online": self.connections.is_online(p.user_id)} for p in positions
        ]

    async def _enter(self, user_id: int, room_id: str) -> None:
        for sid in self.connections.sids(user_id):
            await self.sio.enter_room(sid, room_id)

    async def _leave(self, user_id: int, room_id: str) -> None:
        for sid in self.connections.sids(user_id):
            await self.sio.leave_room(sid, room_id)

    async def _system(
        self, room_id: str, event: str, user: str, skip_sid: str | None
    ) -> MessageRecord:
        record, _ = await self.storage.insert_message(
            NewMessage(
                room=room_id,
                sender_id=None,
                ts=now_ms(),
                kind="system",
                text=_SYSTEM_TEXT[event].format(user=user),
                system_event=event,
                system_user=user,
            )
        )
        await self.sio.emit(Event.MESSAGE, message_to_wire(record), to=room_id, skip_sid=skip_sid)
        return record

    def _room_updated(self, room_id: str) -> None:
        """Schedule ``room:updated`` for the room's online members.

        Coalesced per room over a short delay: a storm of joins (say, a crowd registering
        into ``general``) costs one round of updates, not one per join per member.
        """
        if room_id in self._updates_due:
            return
        self._updates_due.add(room_id)
        task = asyncio.get_running_loop().create_task(self._send_room_updated(room_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_room_updated(self, room_id: str) -> None:
        try:
            await asyncio.sleep(ROOM_UPDATE_DELAY_S)
            self._updates_due.discard(room_id)
            positions = await self.storage.members(room_id)
            online = {p.user_id: p for p in positions if self.connections.is_online(p.user_id)}
            views = await self.storage.member_views(room_id, list(online))
            for user_id, view in views.items():
                viewer = User(user_id, online[user_id].name)
                room = room_to_wire(view, viewer, positions)
                await self.sio.emit(Event.ROOM_UPDATED, {"room": room}, to=user_channel(user_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room:updated for %s failed", room_id)
        finally:
            self._updates_due.discard(room_id)

    async def stop(self) -> None:
        """Cancel background work (pending room updates) before storage closes."""
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def create_room(
        self, user: User, name: object, topic: object, private: bool, sid: str | None
    ) -> dict[str, Any]:
        if not is_valid_room_id(name):
            raise bad_request(
                "name must be 1 to 40 characters of a-z 0-9 _ -, starting with a letter or digit."
            )
        assert isinstance(name, str)
        topic_text = self._topic(topic)
        kind: RoomKind = "private" if private else "public"
        if not await self.storage.create_room(name, kind, topic_text, user.id, [user.id]):
            raise ProtocolError(ErrorCode.CONFLICT, f"The room {name} already exists.")
        logger.info("user %s created %s room %s", user.name, kind, name)
        await self._enter(user.id, name)
        created = await self._system(name, "created", user.name, sid)
        # the creator has seen their own "created" line: it must not count as unread
        await self.storage.advance_position(name, user.id, "read", created.id)
        return await self.room_wire(name, user)

    @staticmethod
    def _topic(topic: object) -> str:
        if topic is None:
            return ""
        if not isinstance(topic, str):
            raise bad_request("topic must be a string.")
        if len(topic) > MAX_TOPIC_CHARS:
            raise bad_request(f"topic must be at most {MAX_TOPIC_CHARS} characters.")
        return topic

    async def join_room(self, user: User, room_id: object, sid: str | None) -> dict[str, Any]:
        room = await self._room(room_id)
        if room.kind != "public" and not await self.storage.is_member(room.id, user.id):
            dm = parse_dm_id(room.id)
            if dm is None or user.name.lower() not in dm:
                raise ProtocolError(ErrorCode.FORBIDDEN, f"{room.id} is private.")
        if await self.storage.add_member(room.id, user.id):
            await self._enter(user.id, room.id)
            await self._system(room.id, "joined", user.name, sid)
            await self.storage.advance_position(room.id, user.id, "read", 2**63 - 1)
            await self.sio.emit(
                Event.PRESENCE,
                {"room": room.id, "user": user.name, "state": "joined"},
                to=room.id,
                skip_sid=self.connections.sids(user.id) or None,
            )
            self._room_updated(room.id)
        positions = await self.storage.members(room.id)
        messages, _ = await self.storage.history(room.id, None, None, DEFAULT_HISTORY_PAGE)
        return {
            "room": await self.room_wire(room.id, user),
            "members": self.members_wire(positions),
            "messages": messages_to_wire(messages, user, positions),
        }

    async def leave_room(self, user: User, room_id: object, sid: str | None) -> None:
        room = await self._room(room_id)
        if not await self.storage.remove_member(room.id, user.id):
            return
        await self.sio.emit(
            Event.PRESENCE,
            {"room": room.id, "user": user.name, "state": "left"},
            to=room.id,
            skip_sid=self.connections.sids(user.id) or None,
        )
        await self._leave(user.id, room.id)
        await self._system(room.id, "left", user.name, sid)
        self._room_updated(room.id)
        # the leaver's other devices learn the room is no longer theirs
        if self.connections.is_online(user.id):
            await self.sio.emit(
                Event.ROOM_UPDATED,
                {"room": await self.room_wire(room.id, user)},
                to=user_channel(user.id),
                skip_sid=sid,
            )

    async def room_members(self, user: User, room_id: object) -> list[dict[str, Any]]:
        room = await self._member_room(user, room_id)
        return self.members_wire(await self.storage.members(room.id))

    async def invite(
        self, user: User, room_id: object, invitee_name: object, sid: str | None
    ) -> None:
        room = await self._member_room(user, room_id)
        if room.kind != "private":
            raise bad_request("Only private rooms take invitations; public rooms are open to all.")
        if not is_valid_username(invitee_name):
            raise bad_request("user must be a valid username.")
        assert isinstance(invitee_name, str)
        invitee = await self.storage.get_user(invitee_name)
        if invitee is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no user {invitee_name}.")
        if not await self.storage.add_member(room.id, invitee.id):
            return
        await self._enter(invitee.id, room.id)
        await self._system(room.id, "invited", invitee.name, sid)
        await self.sio.emit(
            Event.ROOM_ADDED,
            {"room": await self.room_wire(room.id, invitee)},
            to=user_channel(invitee.id),
        )
        self._room_updated(room.id)

    async def set_topic(
        self, user: User, room_id: object, topic: object, sid: str | None
    ) -> dict[str, Any]:
        room = await self._member_room(user, room_id)
        if topic is None:
            raise bad_request("topic must be a string.")
        text = self._topic(topic)
        await self.storage.set_topic(room.id, text)
        await self._system(room.id, "topic", user.name, sid)
        self._room_updated(room.id)
        return await self.room_wire(room.id, user)

    async def close_room(self, user: User, room_id: object) -> None:
        room = await self._room(room_id)
        if room.id == GENERAL_ROOM:
            raise ProtocolError(ErrorCode.FORBIDDEN, "The general room cannot be closed.")
        if room.owner is None or room.owner.lower() != user.name.lower():
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only the owner can close a room.")
        positions = await self.storage.members(room.id)
        await self.storage.delete_room(room.id)
        logger.info("user %s closed room %s", user.name, room.id)
        channels = [user_channel(p.user_id) for p in positions]
        if channels:
            await self.sio.emit(Event.ROOM_CLOSED, {"room": room.id}, to=channels)
        for p in positions:
            await self._leave(p.user_id, room.id)

    async def open_dm(self, user: User, other_name: object) -> dict[str, Any]:
        if not is_valid_username(other_name):
            raise bad_request("user must be a valid username.")
        assert isinstance(other_name, str)
        if other_name.lower() == user.name.lower():
            raise bad_request("A direct message needs another user.")
        other = await self.storage.get_user(other_name)
        if other is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no user {other_name}.")
        room_id = dm_room_id(user.name, other.name)
        created = await self.storage.create_room(room_id, "dm", "", None, [user.id, other.id])
        added_other = created
        if not created:
            await self.storage.add_member(room_id, user.id)
            added_other = await self.storage.add_member(room_id, other.id)
        await self._enter(user.id, room_id)
        await self._enter(other.id, room_id)
        if added_other:
            await self.sio.emit(
                Event.ROOM_ADDED,
                {"room": await self.room_wire(room_id, other)},
                to=user_channel(other.id),
            )
        return await self.room_wire(room_id, user)

    # -- messages ---------------------------------------------------------------------------

    async def send_message(
        self,
        user: User,
        payload: dict[str, Any],
        sid: str | None,
        *,
        require_client_id: bool = True,
    ) -> tuple[MessageRecord, dict[str, Any], bool]:
        """Store and broadcast a message; returns (record, wire for the sender, created)."""
        room_id = require_room_id(payload.get("room"))
        raw_client_id = payload.get("client_id")
        if raw_client_id is None and not require_client_id:
            raw_client_id = str(uuid.uuid4())
        cid = check_client_id(raw_client_id)
        text = optional_str(payload, "text")
        image = payload.get("image")
        data: bytes | None = None
        image_name = "image"
        if image is not None:
            if not isinstance(image, dict) or not isinstance(image.get("data"), (bytes, bytearray)):
                raise bad_request("image must be an object with binary data.")
            data = bytes(image["data"])
            name = image.get("name")
            if name is not None:
                if not isinstance(name, str):
                    raise bad_request("image.name must be a string.")
                image_name = os.path.basename(name.replace("\\", "/"))[:255] or "image"
        elif text is None:
            raise bad_request("A message needs text or an image.")
        elif not text.strip():
            raise bad_request("A text message cannot be empty.")
        if text is not None and len(text) > self.config.max_text_chars:
            raise ProtocolError(
                ErrorCode.TOO_LARGE, f"Text is limited to {self.config.max_text_chars} characters."
            )

        existing, room, member = await self.storage.send_context(room_id, user.id, cid)
        if existing is not None:
            positions = await self.storage.members(existing.room)
            return existing, message_to_wire(existing, positions), False
        if room is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no room {room_id}.")
        if not member:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room_id}.")
        if not self.message_limiter.allow(str(user.id)):
            # a retry of a stored message is answered, never refused
            stored = await self.storage.message_by_client_id(user.id, cid)
            if stored is not None:
                positions = await self.storage.members(stored.room)
                return stored, message_to_wire(stored, positions), False
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"At most {self.config.rate_limit_messages} messages in "
                f"{self.config.rate_limit_window_s:g} seconds.",
            )
        new_image = None
        if data is not None:
            processed = await media.process_image(data, self.config.max_image_bytes)
            new_image = NewImage(
                id=uuid.uuid4().hex,
                mime=processed.mime,
                name=image_name,
                data=data,
                width=processed.width,
                height=processed.height,
                thumb=processed.thumb,
                thumb_mime=processed.thumb_mime,
            )
        record, created = await self.storage.insert_message(
            NewMessage(
                room=room.id,
                sender_id=user.id,
                ts=now_ms(),
                kind="image" if new_image is not None else "text",
                text=text or "",
                client_id=cid,
                image=new_image,
            )
        )
        if created:
            self.metrics.messages_total += 1
            if new_image is not None:
                self.metrics.images_total += 1
            await self.sio.emit(Event.MESSAGE, message_to_wire(record), to=room.id, skip_sid=sid)
        if created:
            # a new message is beyond every receipt position: nobody else has it yet
            wire = message_to_wire(record)
            wire["receipts"] = {"delivered": 0, "read": 0, "of": max(room.members - 1, 0)}
            return record, wire, True
        positions = await self.storage.members(record.room)
        return record, message_to_wire(record, positions), False

    async def history(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        room = await self._member_room(user, payload.get("room"))
        before = optional_message_id(payload, "before")
        after = optional_message_id(payload, "after")
        if before is not None and after is not None:
            raise bad_request("Give before or after, not both.")
        limit = history_limit(payload.get("limit"), self.config.history_limit, DEFAULT_HISTORY_PAGE)
        messages, has_more = await self.storage.history(room.id, before, after, limit)
        positions = await self.storage.members(room.id)
        return {"messages": messages_to_wire(messages, user, positions), "has_more": has_more}

    async def media(self, user: User, image_id: object) -> tuple[str, str, bytes]:
        if not isinstance(image_id, str) or not 1 <= len(image_id) <= 64:
            raise bad_request("id must be an image id.")
        blob = await self.storage.media(image_id)
        if blob is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such image.")
        if not await self.storage.is_member(blob.room, user.id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only members of the room can see this image.")
        return blob.mime, blob.name, blob.data

    async def typing(self, user: User, payload: dict[str, Any], sid: str) -> None:
        room_id = require_room_id(payload.get("room"))
        state = payload.get("typing")
        if not isinstance(state, bool):
            raise bad_request("typing must be true or false.")
        if not await self.storage.is_member(room_id, user.id):
            raise ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room_id}.")
        await self.sio.emit(
            Event.TYPING,
            {"room": room_id, "user": user.name, "typing": state},
            to=room_id,
            skip_sid=self.connections.sids(user.id) or sid,
        )

    # -- receipts ---------------------------------------------------------------------------

    async def receipt(self, user: User, payload: dict[str, Any]) -> None:
        room = await self._room(payload.get("room"))
        mid = message_id(payload.get("id"), "id")
        state = require_str(payload, "state")
        if state not in ("delivered", "read"):
            raise bad_request('state must be "delivered" or "read".')
        change = await self.storage.advance_position(room.id, user.id, state, mid)  # type: ignore[arg-type]
        if change is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"You are not a member of {room.id}.")
        if change.new_delivered > change.old_delivered:
            self._wake_waiters(room.id, user.id, change.new_delivered)
            await self._status(
                room.id, user, "delivered", change.old_delivered, change.new_delivered
            )
        if change.new_read > change.old_read:
            await self._status(room.id, user, "read", change.old_read, change.new_read)

    async def _status(
        self, room_id: str, reader: User, state: PositionState, old: int, new: int
    ) -> None:
        spans = await self.storage.senders_in_span(room_id, old, new, reader.id)
        if not spans:
            return
        positions = await self.storage.members(room_id)
        for span in spans:
            if not self.connections.is_online(span.sender_id):
                continue
            others = [p for p in positions if p.user_id != span.sender_id]
            reached = sum(
                1 for p in others if (p.read if state == "read" else p.delivered) >= span.up_to
            )
            await self.sio.emit(
                Event.MESSAGE_STATUS,
                {
                    "room": room_id,
                    "up_to": span.up_to,
                    "state": state,
                    "by": reader.name,
                    "count": reached,
                    "of": len(others),
                },
                to=user_channel(span.sender_id),
            )

    def _wake_waiters(self, room_id: str, user_id: int, delivered: int) -> None:
        for waiter in self._waiters.get(room_id, ()):
            if user_id in waiter.pending and delivered >= waiter.message_id:
                waiter.pending.discard(user_id)
                if not waiter.pending:
                    waiter.done.set()

    async def wait_delivered(self, record: MessageRecord, sender: User, wait_s: float) -> int:
        """Wait up to ``wait_s`` for the online members to confirm delivery; how many did."""
        positions = await self.storage.members(record.room)
        online = {
            p.user_id
            for p in positions
            if p.user_id != sender.id and self.connections.is_online(p.user_id)
        }
        delivered = {
            p.user_id for p in positions if p.user_id != sender.id and p.delivered >= record.id
        }
        waiter = _DeliveryWaiter(record.id, online - delivered)
        if waiter.pending and wait_s > 0:
            self._waiters.setdefault(record.room, []).append(waiter)
            try:
                await asyncio.wait_for(waiter.done.wait(), wait_s)
            except TimeoutError:
                pass
            finally:
                waiters = self._waiters.get(record.room, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters:
                    self._waiters.pop(record.room, None)
        return await self.storage.count_reached(record.room, "delivered", record.id, sender.id)
