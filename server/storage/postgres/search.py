"""Full-text search for the PostgreSQL backend (PROTOCOL.md section 16).

The index and the functions that cut text and queries into words are in
:mod:`server.storage.postgres.schema_search`; here a search is one query on the index
table, filtered by room (and sender) there, newest first. User input reaches PostgreSQL
only as bound parameters: ``parley_search_query`` builds the tsquery from the bare words.
"""

from __future__ import annotations

import asyncpg

from server.storage.base import MessageRecord
from server.storage.base_v2 import SearchTerm, SearchTooBroad
from server.storage.postgres.engine import PostgresEngine
from server.storage.postgres.rows import load_messages

# a search's time budget (as on SQLite): past it the statement is cancelled and the client
# is told to narrow the query, so a hostile query cannot hold a pooled connection
SEARCH_BUDGET_MS = 2000


class SearchStore(PostgresEngine):
    async def search_messages(
        self,
        terms: list[SearchTerm],
        room_ids: list[str],
        sender_id: int | None,
        before: int | None,
        limit: int,
    ) -> tuple[list[MessageRecord], bool]:
        if not terms or not room_ids:
            return [], False
        bound = before if before is not None else 2**63 - 1
        async with self._snapshot() as conn:
            await conn.execute(f"SET LOCAL statement_timeout = {SEARCH_BUDGET_MS}")
            try:
                rows = await conn.fetch(
                    "SELECT s.message_id FROM message_search s"
                    " WHERE s.doc @@ parley_search_query($1::text[], $2::boolean[])"
                    " AND s.room_id = ANY($3::text[]) AND s.message_id < $4"
                    " AND ($5::bigint IS NULL OR s.sender_id = $5)"
                    " ORDER BY s.message_id DESC LIMIT $6",
                    [t.text for t in terms],
                    [t.phrase for t in terms],
                    room_ids,
                    bound,
                    sender_id,
                    limit + 1,
                )
            except asyncpg.QueryCanceledError:
                raise SearchTooBroad from None
            ids = [int(r[0]) for r in rows]
            more = len(ids) > limit
            ids = ids[:limit]
            if not ids:
                return [], more
            found = await load_messages(conn, "m.id = ANY($1::bigint[]) ORDER BY m.id DESC", ids)
        # the trigger keeps these out of the index; never show one whatever happens
        return [m for m in found if not m.deleted and m.kind != "system"], more
