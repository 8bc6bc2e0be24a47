"""Reading messages: the columns every message query selects, and rows -> MessageRecord.

The same columns, in the same order, as the SQLite backend's ``rows`` module, so a row
becomes a record the same way. A reply preview comes from a join on the parent, read now;
reactions come from one extra query per page of messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

from server.storage.base import MessageRecord, Reaction
from server.storage.message_rows import MESSAGE_COLUMNS, MESSAGE_FROM
from server.storage.message_rows import message_record as _record


async def reactions_for(
    conn: asyncpg.Connection, message_ids: Iterable[int]
) -> dict[int, tuple[Reaction, ...]]:
    """Each message's reactions: emoji in order of first use, users in the order they reacted."""
    ids = list(message_ids)
    if not ids:
        return {}
    grouped: dict[int, dict[str, list[str]]] = {}
    for message_id, emoji, name in await conn.fetch(
        "SELECT r.message_id, r.emoji, u.name FROM reactions r"
        " JOIN users u ON u.id = r.user_id WHERE r.message_id = ANY($1::bigint[])"
        " ORDER BY r.message_id, r.emoji_rank, r.id",
        ids,
    ):
        grouped.setdefault(message_id, {}).setdefault(emoji, []).append(name)
    return {
        mid: tuple(Reaction(emoji, tuple(users)) for emoji, users in by_emoji.items())
        for mid, by_emoji in grouped.items()
    }


async def load_messages(conn: asyncpg.Connection, where: str, *params: Any) -> list[MessageRecord]:
    """Messages matching ``where`` (SQL over alias ``m`` with ``$n`` parameters, with its
    ORDER BY / LIMIT)."""
    rows = await conn.fetch(f"SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} WHERE {where}", *params)
    if not rows:
        return []
    reactions = await reactions_for(conn, (r[0] for r in rows if not r[20]))
    return [_record(r, reactions.get(r[0], ())) for r in rows]


async def load_message(conn: asyncpg.Connection, where: str, *params: Any) -> MessageRecord | None:
    found = await load_messages(conn, where, *params)
    return found[0] if found else None


async def new_message_record(conn: asyncpg.Connection, message_id: int) -> MessageRecord:
    """A message just inserted: it has no reactions yet, so no second query."""
    row = await conn.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} {MESSAGE_FROM} WHERE m.id = $1", message_id
    )
    assert row is not None
    return _record(row, ())
