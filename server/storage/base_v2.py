"""The storage interface for search (PROTOCOL.md section 16) and files (section 17).

Kept apart from :mod:`server.storage.base` so the two features stay in their own modules;
``Storage`` inherits both interfaces, so every backend implements them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.storage.base import MessageRecord


class SearchTooBroad(Exception):
    """``search_messages`` gave up: the query would take longer than the time budget."""


class UploadUnavailable(Exception):
    """``insert_message``: the upload is unknown, someone else's, or already used."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """The Message object's ``file``: an upload a message uses."""

    id: str
    name: str
    size: int
    mime: str


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """A file received by ``POST /api/media``; ``message_id`` is set once a message uses it."""

    id: str
    user_id: int
    name: str
    size: int
    mime: str
    created_ms: int
    message_id: int | None = None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One term of a search: a word (matched as a prefix) or a phrase (exact words)."""

    text: str
    phrase: bool


class FileStorage(abc.ABC):
    """Upload metadata; the bytes live on disk (:mod:`server.storage.uploads`)."""

    @abc.abstractmethod
    async def add_upload(self, upload: UploadRecord) -> None: ...

    @abc.abstractmethod
    async def get_upload(self, upload_id: str) -> UploadRecord | None: ...

    @abc.abstractmethod
    async def unused_uploads(self, user_id: int) -> int:
        """How many uploads of this user no message uses yet."""

    @abc.abstractmethod
    async def expire_uploads(self, created_before_ms: int) -> list[str]:
        """Forget uploads no message used that were made before the time; their ids."""

    @abc.abstractmethod
    async def upload_ids(self) -> set[str]:
        """Every upload id the database knows (to find stray files on disk)."""

    @abc.abstractmethod
    async def doomed_files(self) -> list[str]:
        """Ids of files whose message was deleted (or whose room closed) and whose bytes
        are still to be erased. The deletion's own transaction put them on this list."""

    @abc.abstractmethod
    async def forget_doomed(self, upload_ids: list[str]) -> None:
        """Their bytes are gone: take them off the list."""


class SearchStorage(abc.ABC):
    @abc.abstractmethod
    async def search_messages(
        self,
        terms: list[SearchTerm],
        room_ids: list[str],
        sender_id: int | None,
        before: int | None,
        limit: int,
    ) -> tuple[list[MessageRecord], bool]:
        """Messages in ``room_ids`` matching every term, newest first, and whether older
        matches exist. Never system or deleted messages."""
