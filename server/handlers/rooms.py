"""Rooms: listing, creating, joining, leaving, invitations, topics, closing and DMs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.connections import user_channel
from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext, not_member
from server.handlers.media import erase_deleted_files
from server.protocol import (
    DEFAULT_HISTORY_PAGE,
    GENERAL_ROOM,
    MAX_TOPIC_CHARS,
    ErrorCode,
    Event,
    dm_room_id,
    is_valid_room_id,
    is_valid_username,
    parse_dm_id,
)
from server.ratelimit import SlidingWindow
from server.storage.base import RoomKind, User
from server.validation import encodable, no_nul
from server.wire import messages_to_wire, room_to_wire

logger = logging.getLogger(__name__)

# how long room:updated waits to coalesce further changes to the same room
ROOM_UPDATE_DELAY_S = 0.05


def _topic(topic: object) -> str:
    if topic is None:
        return ""
    if not isinstance(topic, str):
        raise bad_request("topic must be a string.")
    if len(topic) > MAX_TOPIC_CHARS:
        raise bad_request(f"topic must be at most {MAX_TOPIC_CHARS} characters.")
    return no_nul(encodable(topic, "topic"), "topic")


class RoomHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self._updates_due: set[str] = set()
        config = ctx.config
        # every change that stores a system line or notifies others counts here
        self.action_limiter = SlidingWindow(
            config.room_actions_limit, config.room_actions_window_s
        )
        self.creation_limiter = SlidingWindow(config.rooms_per_user_per_hour, 3600.0)

    async def check_action(self, user: User) -> None:
        """Refuse a state change past the user's budget (topic, join, leave, invite, ...),
        counted across the cluster's nodes when there is one."""
        if not await self.action_limiter.acquire(str(user.id)):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"At most {self.ctx.config.room_actions_limit} room changes in "
                f"{self.ctx.config.room_actions_window_s:g} seconds.",
            )

    async def start(self) -> None:
        if await self.ctx.storage.create_room(GENERAL_ROOM, "public", "", None, []):
            logger.info("created the %s room", GENERAL_ROOM)

    async def list_rooms(self, user: User) -> list[dict[str, Any]]:
        storage = self.ctx.storage
        out = []
        views = await storage.list_rooms(user.id, self.ctx.config.max_listed_public_rooms)
        for view in views:
            positions = None
            if view.last_message is not None and view.last_message.sender_id == user.id:
                positions = await storage.members(view.room.id)
            out.append(room_to_wire(view, user, positions))
        return out

    def room_updated(self, room_id: str) -> None:
        """Schedule ``room:updated`` for the room's online members.

        Coalesced per room over a short delay: a storm of joins (say, a crowd registering
        into ``general``) costs one round of updates, not one per join per member.
        """
        if room_id in self._updates_due:
            return
        self._updates_due.add(room_id)
        self.ctx.spawn(self._send_room_updated(room_id))

    async def _send_room_updated(self, room_id: str) -> None:
        ctx = self.ctx
        try:
            await asyncio.sleep(ROOM_UPDATE_DELAY_S)
            self._updates_due.discard(room_id)
            positions = await ctx.storage.members(room_id)
            online = {p.user_id: p for p in positions if ctx.connections.is_online(p.user_id)}
            views = await ctx.storage.member_views(room_id, list(online))
            for user_id, view in views.items():
                viewer = User(user_id, online[user_id].name)
                room = room_to_wire(view, viewer, positions)
                await ctx.sio.emit(Event.ROOM_UPDATED, {"room": room}, to=user_channel(user_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room:updated for %s failed", room_id)
        finally:
            self._updates_due.discard(room_id)

    async def create_room(
        self, user: User, name: object, topic: object, private: bool, sid: str | None
    ) -> dict[str, Any]:
        ctx = self.ctx
        if not is_valid_room_id(name):
            raise bad_request(
                "name must be 1 to 40 characters of a-z 0-9 _ -, starting with a letter or digit."
            )
        assert isinstance(name, str)
        topic_text = _topic(topic)
        kind: RoomKind = "private" if private else "public"
        await self.check_action(user)
        if not await self.creation_limiter.acquire(str(user.id)):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"At most {ctx.config.rooms_per_user_per_hour} new rooms an hour.",
            )
        if not await ctx.storage.create_room(name, kind, topic_text, user.id, [user.id]):
            raise ProtocolError(ErrorCode.CONFLICT, f"The room {name} already exists.")
        logger.info("user %s created %s room %s", user.name, kind, name)
        await ctx.enter(user.id, name)
        created = await ctx.system(name, "created", user.name, sid)
        # the creator has seen their own "created" line: it must not count as unread
        await ctx.storage.advance_position(name, user.id, "read", created.id)
        return await ctx.room_wire(name, user)

    async def join_room(self, user: User, room_id: object, sid: str | None) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.room(room_id)
        member = await ctx.storage.is_member(room.id, user.id)
        if room.kind != "public" and not member:
            dm = parse_dm_id(room.id)
            if dm is None or user.name.lower() not in dm:
                # PROTOCOL.md section 4 names forbidden here (the one event that says so)
                raise ProtocolError(ErrorCode.FORBIDDEN, f"{room.id} is private.")
        if not member:
            await self.check_action(user)
        if await ctx.storage.add_member(room.id, user.id):
            await ctx.enter(user.id, room.id)
            await ctx.system(room.id, "joined", user.name, sid)
            await ctx.storage.advance_position(room.id, user.id, "read", 2**63 - 1)
            await ctx.sio.emit(
                Event.PRESENCE,
                {"room": room.id, "user": user.name, "state": "joined"},
                to=room.id,
                skip_sid=ctx.connections.skip_user(user.id),
            )
            self.room_updated(room.id)
        positions = await ctx.storage.members(room.id)
        messages, _ = await ctx.storage.history(room.id, None, None, DEFAULT_HISTORY_PAGE)
        return {
            "room": await ctx.room_wire(room.id, user),
            "members": ctx.members_wire(positions),
            "messages": messages_to_wire(messages, user, positions),
        }

    async def leave_room(self, user: User, room_id: object, sid: str | None) -> None:
        ctx = self.ctx
        room = await ctx.room(room_id)
        if not await ctx.storage.is_member(room.id, user.id):
            if room.kind != "public":
                raise not_member(room)
            return
        await self.check_action(user)
        if not await ctx.storage.remove_member(room.id, user.id):
            return
        await ctx.sio.emit(
            Event.PRESENCE,
            {"room": room.id, "user": user.name, "state": "left"},
            to=room.id,
            skip_sid=ctx.connections.skip_user(user.id),
        )
        await ctx.leave(user.id, room.id)
        await ctx.system(room.id, "left", user.name, sid)
        self.room_updated(room.id)
        # the leaver's other devices learn the room is no longer theirs
        if ctx.connections.is_online(user.id):
            await ctx.sio.emit(
                Event.ROOM_UPDATED,
                {"room": await ctx.room_wire(room.id, user)},
                to=user_channel(user.id),
                skip_sid=sid,
            )

    async def room_members(self, user: User, room_id: object) -> list[dict[str, Any]]:
        room = await self.ctx.member_room(user, room_id)
        return self.ctx.members_wire(await self.ctx.storage.members(room.id))

    async def invite(
        self, user: User, room_id: object, invitee_name: object, sid: str | None
    ) -> None:
        ctx = self.ctx
        room = await ctx.member_room(user, room_id)
        if room.kind != "private":
            raise bad_request("Only private rooms take invitations; public rooms are open to all.")
        await self.check_action(user)
        if not is_valid_username(invitee_name):
            raise bad_request("user must be a valid username.")
        assert isinstance(invitee_name, str)
        invitee = await ctx.storage.get_user(invitee_name)
        if invitee is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no user {invitee_name}.")
        if not await ctx.storage.add_member(room.id, invitee.id):
            return
        await ctx.enter(invitee.id, room.id)
        await ctx.system(room.id, "invited", invitee.name, sid)
        await ctx.sio.emit(
            Event.ROOM_ADDED,
            {"room": await ctx.room_wire(room.id, invitee)},
            to=user_channel(invitee.id),
        )
        self.room_updated(room.id)

    async def set_topic(
        self, user: User, room_id: object, topic: object, sid: str | None
    ) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.member_room(user, room_id)
        if topic is None:
            raise bad_request("topic must be a string.")
        text = _topic(topic)
        await self.check_action(user)
        await ctx.storage.set_topic(room.id, text)
        ctx.link.rooms_changed([room.id])
        await ctx.system(room.id, "topic", user.name, sid, detail=text)
        self.room_updated(room.id)
        return await ctx.room_wire(room.id, user)

    async def close_room(self, user: User, room_id: object) -> None:
        ctx = self.ctx
        room = await ctx.room(room_id)
        if room.kind != "public" and not await ctx.storage.is_member(room.id, user.id):
            raise not_member(room)
        if room.id == GENERAL_ROOM:
            raise ProtocolError(ErrorCode.FORBIDDEN, "The general room cannot be closed.")
        if room.owner is None or room.owner.lower() != user.name.lower():
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only the owner can close a room.")
        positions = await ctx.storage.members(room.id)
        await ctx.storage.delete_room(room.id)
        await erase_deleted_files(ctx.storage, ctx.config)
        logger.info("user %s closed room %s", user.name, room.id)
        ctx.link.rooms_changed([room.id])  # other nodes forget it before they hear it closed
        channels = [user_channel(p.user_id) for p in positions]
        if channels:
            await ctx.sio.emit(Event.ROOM_CLOSED, {"room": room.id}, to=channels)
        for p in positions:
            await ctx.leave(p.user_id, room.id)

    async def open_dm(self, user: User, other_name: object) -> dict[str, Any]:
        ctx = self.ctx
        if not is_valid_username(other_name):
            raise bad_request("user must be a valid username.")
        assert isinstance(other_name, str)
        if other_name.lower() == user.name.lower():
            raise bad_request("A direct message needs another user.")
        await self.check_action(user)
        other = await ctx.storage.get_user(other_name)
        if other is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"There is no user {other_name}.")
        room_id = dm_room_id(user.name, other.name)
        created = await ctx.storage.create_room(room_id, "dm", "", None, [user.id, other.id])
        added_other = created
        if not created:
            await ctx.storage.add_member(room_id, user.id)
            added_other = await ctx.storage.add_member(room_id, other.id)
        await ctx.enter(user.id, room_id)
        await ctx.enter(other.id, room_id)
        if added_other:
            await ctx.sio.emit(
                Event.ROOM_ADDED,
                {"room": await ctx.room_wire(room_id, other)},
                to=user_channel(other.id),
            )
        return await ctx.room_wire(room_id, user)
