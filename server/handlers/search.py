"""Search: ``message:search`` (protocol v2, section 16).

The query is split here into terms (words and quoted phrases); the storage's full-text
index does the matching, so a search stays fast however many messages are stored. Only
rooms the requester is a member of *now* are searched, and never deleted or system
messages (the index does not hold them).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from server.errors import ProtocolError, bad_request
from server.handlers.context import HandlerContext
from server.protocol import ErrorCode, is_valid_username
from server.ratelimit import SlidingWindow
from server.storage.base import MessageRecord, User
from server.storage.base_v2 import SearchTerm, SearchTooBroad
from server.validation import history_limit, optional_message_id
from server.wire import messages_to_wire

MAX_QUERY_CHARS = 200
MAX_SEARCH_PAGE = 50
DEFAULT_SEARCH_PAGE = 20
# more terms than this only slow the index down; nobody types them
MAX_TERMS = 16
# per user; a person types a few searches a second at most (type-ahead included)
SEARCHES_PER_WINDOW = 30
SEARCH_WINDOW_S = 10.0


def _has_token_char(text: str) -> bool:
    """Whether the index's tokenizer finds a word in ``text`` (a letter or a digit)."""
    return any(
        unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in text
    )


def parse_query(query: str) -> list[SearchTerm]:
    """Split on whitespace; a double-quoted part is one phrase term (an unclosed quote runs
    to the end). Terms with no letter or digit are dropped: they cannot match a word."""
    # control characters and lone surrogates separate words anyway; FTS5 would read a NUL
    # as the end of its string, and a surrogate cannot be encoded to UTF-8 at all
    query = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in query)
    terms: list[SearchTerm] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            end = n if end < 0 else end
            terms.append(SearchTerm(query[i + 1 : end], True))
            i = end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] != '"':
                j += 1
            terms.append(SearchTerm(query[i:j], False))
            i = j
    return [t for t in terms if _has_token_char(t.text)]


def check_query(value: object) -> list[SearchTerm]:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_QUERY_CHARS:
        raise bad_request(f"query must be 1 to {MAX_QUERY_CHARS} characters.")
    terms = parse_query(value)
    if not terms:
        raise bad_request("The query needs at least one letter or digit to search for.")
    if len(terms) > MAX_TERMS:
        raise bad_request(f"A query has at most {MAX_TERMS} words or phrases.")
    return terms


class SearchHandler:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        # searches are the costliest reads a client can ask for: a budget of their own
        # (off with the message rate limit: --rate-limit 0)
        per_window = SEARCHES_PER_WINDOW if ctx.config.rate_limit_messages else 0
        self.limiter = SlidingWindow(per_window, SEARCH_WINDOW_S)
        ctx.features.add("search")

    async def search(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        terms = check_query(payload.get("query"))
        if not await self.limiter.acquire(str(user.id)):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"At most {SEARCHES_PER_WINDOW} searches in {SEARCH_WINDOW_S:g} seconds.",
            )
        before = optional_message_id(payload, "before")
        limit = history_limit(payload.get("limit"), MAX_SEARCH_PAGE, DEFAULT_SEARCH_PAGE)
        room_ids: list[str]
        if payload.get("room") is not None:
            # a private room a user is not in answers as one that does not exist (not_found)
            room = await ctx.member_room(user, payload.get("room"))
            room_ids = [room.id]
        else:
            room_ids = await ctx.storage.member_room_ids(user.id)
        sender_id: int | None = None
        sender = payload.get("from")
        if sender is not None:
            if not is_valid_username(sender):
                raise bad_request("from must be a username.")
            assert isinstance(sender, str)
            found = await ctx.storage.get_user(sender)
            if found is None:
                return {"messages": [], "has_more": False}
            sender_id = found.id
        try:
            messages, has_more = await ctx.storage.search_messages(
                terms, room_ids, sender_id, before, limit
            )
        except SearchTooBroad:
            raise bad_request(
                "This search matches too much to answer in time; add words or letters."
            ) from None
        return {"messages": await self._wire(user, messages), "has_more": has_more}

    async def _wire(self, user: User, messages: list[MessageRecord]) -> list[dict[str, Any]]:
        """Newest first; the requester's own messages carry receipts, as in history."""
        own_rooms = {m.room for m in messages if m.sender_id == user.id}
        positions = {room: await self.ctx.storage.members(room) for room in own_rooms}
        return [messages_to_wire([m], user, positions.get(m.room, []))[0] for m in messages]
