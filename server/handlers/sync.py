"""Catch-up: ``message:changes`` (protocol v2, section 10).

A client keeps, per room, the highest ``seq`` it holds and asks for what changed since, page
by page while ``has_more``. The answer is the current state of each changed message, so a
message edited three times while the client was away comes once, as it is now.
"""

from __future__ import annotations

from typing import Any

from server.errors import bad_request
from server.handlers.context import HandlerContext
from server.protocol import DEFAULT_CHANGES_PAGE
from server.storage.base import User
from server.validation import history_limit
from server.wire import messages_to_wire

_MAX_SEQ = 2**63 - 1


class SyncHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        ctx.features.add("changes")

    async def changes(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        room = await ctx.member_room(user, payload.get("room"))
        since = payload.get("since")
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= _MAX_SEQ:
            raise bad_request("since must be a non-negative integer seq.")
        limit = history_limit(payload.get("limit"), ctx.config.history_limit, DEFAULT_CHANGES_PAGE)
        page = await ctx.storage.changes(room.id, since, limit)
        positions = await ctx.storage.members(room.id)
        return {
            "messages": messages_to_wire(page.messages, user, positions),
            "has_more": page.has_more,
            "seq": page.seq,
        }
