"""Search (protocol v2, section 16): ``message:search`` pages and opening a result.

``search()`` asks for one page of matches, newest first, in one room or in every room
the user is in; the next page passes the smallest id held as ``before`` (the protocol's
cursor) until ``has_more`` is false. Every failure is raised as a :class:`RequestError`
whose ``message`` is a sentence for the user ("You are offline; …"), never a bare code.

A result is opened in the timeline with ``RoomsMixin.load_around()``: the history
around it, however far back, in two requests.

Nothing here knows of widgets; the search panel (``desktop.ui.search_panel``) drops
answers to queries it no longer shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from desktop.net.core import ClientCore, RequestError
from desktop.state.types import Message
from server.protocol import ErrorCode, Event

logger = logging.getLogger(__name__)

SEARCH_PAGE = 20
MAX_QUERY_CHARS = 200  # shared/PROTOCOL.md section 16


@dataclass(frozen=True)
class SearchPage:
    """One answer to ``message:search``: newest first; ``has_more`` when older exist."""

    query: str
    room: str | None
    messages: list[Message]
    has_more: bool

    @property
    def cursor(self) -> int | None:
        """The ``before`` of the next page (the smallest id here)."""
        ids = [m.id for m in self.messages if m.id is not None]
        return min(ids) if ids else None


def has_searchable_text(query: str) -> bool:
    """Whether the server can search ``query``: it needs a letter or a digit."""
    return any(ch.isalnum() for ch in query)


def search_error_text(code: str, server_message: str, room_name: str | None) -> str:
    """The sentence the user reads for a failed search."""
    where = f"#{room_name}" if room_name else "this room"
    if code == "offline":
        return "You are offline. Search works again when the connection is back."
    if code == "timeout":
        return "The server did not answer the search in time. Try again."
    if code == "unsupported":
        return "This server does not offer search (it is older than protocol version 2)."
    if code == ErrorCode.RATE_LIMITED:
        return "Too many searches in a short time. Wait a few seconds and try again."
    if code in (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN):
        return f"You are not a member of {where} any more, so it cannot be searched."
    if code == ErrorCode.BAD_REQUEST:
        if "too much" in server_message:
            return "This search matches too much to answer in time. Add words or letters."
        if "letter or digit" in server_message:
            return "Type a letter or a digit to search for."
        if "at most" in server_message and "words" in server_message:
            return "A search can have at most 16 words or phrases."
        return "The server could not search for that. Try other words."
    return "The search failed on the server. Try again in a moment."


class SearchMixin(ClientCore):
    """``message:search`` and opening a result (see the module docstring)."""

    def can_search(self) -> bool:
        """Whether the server announced search (protocol 2's ``search`` feature)."""
        features = self._server_info.get("features") or ()
        return "search" in features or self._speaks_v2()

    async def search(self, query: str, room: str | None = None, before: int | None = None,
                     limit: int = SEARCH_PAGE) -> SearchPage:
        """One page of matches for ``query`` (in ``room``, or in all the user's rooms),
        older than ``before`` when given. Raises RequestError with a sentence."""
        room_name = self._room_name(room)
        query = query.strip()
        if not has_searchable_text(query):
            raise RequestError(ErrorCode.BAD_REQUEST,
                               search_error_text(ErrorCode.BAD_REQUEST, "letter or digit",
                                                 room_name))
        if len(query) > MAX_QUERY_CHARS:
            raise RequestError(ErrorCode.BAD_REQUEST,
                               f"A search can be at most {MAX_QUERY_CHARS} characters long.")
        if self._ready and not self.can_search():
            raise RequestError("unsupported", search_error_text("unsupported", "", room_name))
        payload: dict[str, Any] = {"query": query, "limit": limit}
        if room is not None:
            payload["room"] = room
        if before is not None:
            payload["before"] = before
        try:
            ack = await self._call(Event.MESSAGE_SEARCH, payload)
        except RequestError as exc:
            logger.info("message:search failed: %s", exc.code)
            raise RequestError(exc.code,
                               search_error_text(exc.code, exc.message, room_name)) from None
        raw = ack.get("messages")
        messages = [Message.from_wire(m) for m in raw if isinstance(m, dict)] \
            if isinstance(raw, list) else []
        return SearchPage(query, room, messages, bool(ack.get("has_more")))

    def _room_name(self, room: str | None) -> str | None:
        if room is None:
            return None
        info = self.rooms.get(room)
        return info.name if info is not None else room
