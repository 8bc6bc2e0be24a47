"""Full-text search for the SQLite backend: an FTS5 index kept in step by triggers.

The index ``message_search`` holds one entry per searchable message (rowid = message id):
the words of its text, plus two key columns, ``rk`` (the room, as ``r`` + hex of its id) and ``sk``
(the sender, ``u`` + user id), so a search limited to a few rooms or one sender lets FTS5
intersect doclists instead of reading messages it then throws away.

The index, its triggers and the backfill of stored messages are schema step 3
(``schema_v3``); the index is contentless (no second copy of the text). Triggers on
``messages`` keep it in step inside the transaction that stores, edits, deletes
or purges a message, so the index can never disagree with what was committed. System
messages and deleted ones (tombstones have empty text) are never indexed, so they are never
found. The tokenizer folds case and diacritics (``unicode61 remove_diacritics 2``), and a
prefix index makes the ``word*`` terms every word of a query becomes cheap.

User input never reaches FTS5's query language raw: :func:`fts_query` quotes every term
(``server.handlers.search`` splits the query into terms).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.storage.base import MessageRecord
from server.storage.base_v2 import SearchTerm, SearchTooBroad
from server.storage.sqlite.engine import SQLiteEngine
from server.storage.sqlite.rows import load_messages

T = TypeVar("T")

# a search's time budget: past it the query is interrupted (SearchTooBroad), so a hostile
# query cannot hold the search thread; real queries take milliseconds (bench/v2_search.py)
SEARCH_BUDGET_S = 2.0
# how many SQLite VM steps between checks of the budget
_PROGRESS_STEPS = 10_000

# Past this many rooms an OR of room keys costs more than filtering the matches by room.
ROOM_KEY_FILTER_MAX = 8


def _quote(text: str) -> str:
    """An FTS5 string: whatever is inside is only ever tokenized, never parsed as syntax."""
    return '"' + text.replace('"', '""').replace("\x00", " ") + '"'


def fts_query(
    terms: list[SearchTerm], room_keys: list[str] | None = None, sender_key: str | None = None
) -> str:
    """The FTS5 MATCH expression: every term on the body, AND the room and sender keys."""
    parts = [_quote(t.text) if t.phrase else _quote(t.text) + "*" for t in terms]
    expr = "body : (" + " AND ".join(parts) + ")"
    if room_keys:
        expr += " AND rk : (" + " OR ".join(_quote(k) for k in room_keys) + ")"
    if sender_key is not None:
        expr += " AND sk : " + _quote(sender_key)
    return expr


def room_key(room_id: str) -> str:
    return "r" + room_id.encode("utf-8").hex()


def sender_key(user_id: int) -> str:
    return f"u{user_id}"


def search_ids(
    conn: sqlite3.Connection,
    terms: list[SearchTerm],
    room_ids: list[str],
    sender_id: int | None,
    before: int | None,
    limit: int,
) -> tuple[list[int], bool]:
    """Ids of matching messages in ``room_ids``, newest first, and whether more exist."""
    if not terms or not room_ids:
        return [], False
    bound = before if before is not None else 2**63 - 1
    skey = None if sender_id is None else sender_key(sender_id)
    if len(room_ids) <= ROOM_KEY_FILTER_MAX:
        match = fts_query(terms, [room_key(r) for r in room_ids], skey)
        rows = conn.execute(
            "SELECT rowid FROM message_search WHERE message_search MATCH ? AND rowid < ?"
            " ORDER BY rowid DESC LIMIT ?",
            (match, bound, limit + 1),
        ).fetchall()
    else:
        # many rooms: walk the matches newest first and keep those in the user's rooms
        match = fts_query(terms, None, skey)
        marks = ",".join("?" * len(room_ids))
        rows = conn.execute(
            "SELECT s.rowid FROM message_search s JOIN messages m ON m.id = s.rowid"
            f" WHERE message_search MATCH ? AND s.rowid < ? AND m.room_id IN ({marks})"
            " ORDER BY s.rowid DESC LIMIT ?",
            (match, bound, *room_ids, limit + 1),
        ).fetchall()
    ids = [int(r[0]) for r in rows]
    return ids[:limit], len(ids) > limit


class SearchStore(SQLiteEngine):
    """Searches run on a read-only connection and thread of their own: a broad query never
    delays history pages or sends queued on the engine's reader."""

    _search_conn: sqlite3.Connection | None = None
    _search_thread: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        await super().open()
        self._search_thread = ThreadPoolExecutor(1, thread_name_prefix="parley-sqlite-search")
        self._search_conn = await self._on_search_thread(self._open_search_sync)

    def _open_search_sync(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    async def close(self) -> None:
        if self._search_thread is not None:
            conn, self._search_conn = self._search_conn, None
            if conn is not None:
                await self._on_search_thread(conn.close)
            self._search_thread.shutdown(wait=True)
            self._search_thread = None
        await super().close()

    async def _on_search_thread(self, fn: Callable[[], T]) -> T:
        assert self._search_thread is not None, "storage is not open"
        return await asyncio.get_running_loop().run_in_executor(self._search_thread, fn)

    async def search_messages(
        self,
        terms: list[SearchTerm],
        room_ids: list[str],
        sender_id: int | None,
        before: int | None,
        limit: int,
    ) -> tuple[list[MessageRecord], bool]:
        def q() -> tuple[list[MessageRecord], bool]:
            conn = self._search_conn
            assert conn is not None, "storage is not open"
            conn.execute("BEGIN")  # the ids and the messages from one committed state
            try:
                deadline = time.monotonic() + SEARCH_BUDGET_S
                conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
                try:
                    ids, more = search_ids(conn, terms, room_ids, sender_id, before, limit)
                except sqlite3.OperationalError as exc:
                    if "interrupted" in str(exc):
                        raise SearchTooBroad from None
                    raise
                finally:
                    conn.set_progress_handler(None, 0)
                if not ids:
                    return [], more
                marks = ",".join("?" * len(ids))
                found = load_messages(conn, f"m.id IN ({marks}) ORDER BY m.id DESC", ids)
                # the triggers keep these out of the index; never show one whatever happens
                return [m for m in found if not m.deleted and m.kind != "system"], more
            finally:
                conn.execute("COMMIT")

        return await self._on_search_thread(q)
