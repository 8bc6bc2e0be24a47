"""Group commit for message inserts: one transaction, one WAL flush, per batch of sends.

A lone insert used to be its own transaction: lock the room's row, insert, bump the room's
``seq``, read the row back, COMMIT (an fsync, ``synchronous_commit`` on), about six round
trips; the sends of one room queued on its row lock one commit at a time. Here the calls
that arrive while a batch commits wait in a queue and go in together as the next batch
(at most ``BATCH_MAX``), and every caller's future resolves only after its batch's COMMIT,
so an ack never precedes durability.

A batch, in one transaction:

1. locks the row of every room it writes, in one statement, in ``ORDER BY id`` order: the
   locks are taken in the order the rows come out of the sort, so two nodes' batches over
   the same rooms take them in the same order and cannot deadlock on them;
2. inserts each message (one round trip for a plain one: ``RETURNING`` brings the id and
   the sender's name), its seq counted from the locked row's; a ``(sender, client_id)``
   retry (``ON CONFLICT DO NOTHING``, waiting for another node's transaction on the same
   pair) takes no seq and comes back as the stored message with ``created=False``;
3. writes each room's last seq once, and commits.

A batch of plain messages (the usual one: text, no image, file, reply or mention rows) does
all three in ONE autocommit statement (``_INSERT_STATEMENT``: data-modifying CTEs, all or
nothing), one round trip where the explicit transaction takes five; the ack still follows
the statement's commit.

Holding the room rows' locks from the first insert to COMMIT means that within a room ids
(drawn from the identity sequence at insert) and seqs increase in commit order, however
many nodes write. The fast path takes no savepoints. If anything fails in it (a raced
upload claim, a constraint, a room gone, a deadlock between two nodes' retries of two
client ids), the batch is rolled back and redone on a fresh connection with a savepoint
per message, so the failure is its own caller's alone and its neighbours still commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from server.storage.base import ImageRecord, MessageRecord, NewMessage
from server.storage.base_v2 import UploadUnavailable
from server.storage.postgres.rows import load_message, new_message_record

logger = logging.getLogger(__name__)

# large enough to amortise a commit over a busy node's sends, small enough that one batch
# holds its room locks only briefly
BATCH_MAX = 64

InsertResult = tuple[MessageRecord, bool]
Pending = tuple[NewMessage, "asyncio.Future[InsertResult]"]

_LOCK_ROOMS = "SELECT id, seq FROM rooms WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE"
_INSERT = (
    "INSERT INTO messages (room_id, sender_id, ts, kind, text, client_id, image_id,"
    " system_event, system_user, reply_to, mentions, mention_room, seq)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    " ON CONFLICT (sender_id, client_id) DO NOTHING"
    " RETURNING id, (SELECT name FROM users WHERE id = $2)"
)
_WRITE_SEQS = (
    "UPDATE rooms r SET seq = v.seq FROM unnest($1::text[], $2::bigint[]) AS v(id, seq)"
    " WHERE r.id = v.id"
)


class RoomGone(LookupError):
    """``insert_message`` into a room that does not exist (closed meanwhile)."""


async def claim_upload(
    conn: asyncpg.Connection,
    upload_id: str,
    user_id: int,
    message_id: int,
    room_id: str,
    *,
    as_image: bool,
) -> None:
    """Let the message use the upload, or raise UploadUnavailable (the caller rolls back).

    ``as_image``: the bytes were stored as the message's image, so the upload goes, and
    its chunks with it in this transaction."""
    if as_image:
        claimed = await conn.fetchval(
            "DELETE FROM uploads WHERE id = $1 AND user_id = $2 AND message_id IS NULL"
            " RETURNING true",
            upload_id,
            user_id,
        )
        if claimed:
            await conn.execute("DELETE FROM upload_chunks WHERE upload_id = $1", upload_id)
    else:
        claimed = await conn.fetchval(
            "UPDATE uploads SET message_id = $1, room_id = $2"
            " WHERE id = $3 AND user_id = $4 AND message_id IS NULL RETURNING true",
            message_id,
            room_id,
            upload_id,
            user_id,
        )
    if not claimed:
        raise UploadUnavailable("the upload is not available")


async def by_client_id(
    conn: asyncpg.Connection, sender_id: int, client_id: str
) -> MessageRecord | None:
    return await load_message(conn, "m.sender_id = $1 AND m.client_id = $2", sender_id, client_id)


async def _lock_rooms(conn: asyncpg.Connection, batch: Sequence[Pending]) -> dict[str, int]:
    """Lock the batch's rooms (sorted, see the module docstring); their seqs by id."""
    rooms = sorted({msg.room for msg, _ in batch})
    return {row[0]: int(row[1]) for row in await conn.fetch(_LOCK_ROOMS, rooms)}


async def _write_seqs(
    conn: asyncpg.Connection, before: dict[str, int], now: dict[str, int]
) -> None:
    moved = [(room, seq) for room, seq in now.items() if seq != before[room]]
    if moved:
        await conn.execute(_WRITE_SEQS, [r for r, _ in moved], [s for _, s in moved])


async def _insert_one(
    conn: asyncpg.Connection, msg: NewMessage, seqs: dict[str, int]
) -> InsertResult:
    """Store one message with its room's next seq; ``seqs`` moves only if it went in."""
    last = seqs.get(msg.room)
    if last is None:
        raise RoomGone(f"no room {msg.room!r}")
    seq = last + 1
    img = msg.image
    mentions = msg.mentions
    mention_names = " ".join(mentions.names)
    row = await conn.fetchrow(
        _INSERT,
        msg.room,
        msg.sender_id,
        msg.ts,
        msg.kind,
        msg.text,
        msg.client_id,
        None if img is None else img.id,
        msg.system_event,
        msg.system_user,
        msg.reply_to,
        mention_names,
        int(mentions.room),
        seq,
    )
    if row is None:
        # a retry: the first one is stored (committed, here or on another node, or earlier
        # in this batch); nothing changes
        assert msg.sender_id is not None and msg.client_id is not None
        existing = await by_client_id(conn, msg.sender_id, msg.client_id)
        assert existing is not None
        return existing, False
    message_id = int(row[0])
    if mentions.user_ids:
        await conn.execute(
            "INSERT INTO message_mentions (message_id, user_id)"
            " SELECT $1, u FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING",
            message_id,
            list(mentions.user_ids),
        )
    if img is not None:
        await conn.execute(
            "INSERT INTO images (id, room_id, mime, name, size, width, height, thumb,"
            " thumb_mime, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            img.id,
            msg.room,
            img.mime,
            img.name,
            len(img.data),
            img.width,
            img.height,
            img.thumb,
            img.thumb_mime,
            img.data,
        )
    if msg.upload_id is not None:
        assert msg.sender_id is not None
        await claim_upload(
            conn, msg.upload_id, msg.sender_id, message_id, msg.room, as_image=img is not None
        )
    seqs[msg.room] = seq
    if msg.reply_to is not None or msg.upload_id is not None:
        # a reply's preview and a file's row are read back from what was stored
        return await new_message_record(conn, message_id), True
    # everything else of a new message is what was just written: no read back
    return _made(msg, message_id, row[1], seq), True


_INSERT_MANY = (
    "INSERT INTO messages (room_id, sender_id, ts, kind, text, client_id, system_event,"
    " system_user, mentions, mention_room, seq)"
    " SELECT room_id, sender_id, ts, kind, text, client_id, system_event, system_user,"
    " mentions, mention_room, seq FROM unnest($1::text[], $2::bigint[], $3::bigint[],"
    " $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[],"
    " $11::bigint[]) WITH ORDINALITY AS v(room_id, sender_id, ts, kind, text, client_id,"
    " system_event, system_user, mentions, mention_room, seq, n) ORDER BY n"
    " ON CONFLICT (sender_id, client_id) DO NOTHING"
    " RETURNING id, room_id, seq, (SELECT u.name FROM users u WHERE u.id = messages.sender_id)"
)


# The same batch of plain messages as ONE autocommit statement: one round trip, one
# transaction, one WAL flush. ``locked`` takes the rooms' row locks in id order (as
# _LOCK_ROOMS); each message's seq is its room's locked seq plus its rank in the room ($11);
# ``upd`` writes each room's new last seq ($12/$13). All or nothing: unless every message
# went in (a retry of a stored client id hits ON CONFLICT, a room is gone), the guard in
# ``upd`` divides by zero and the whole statement (its transaction) is undone, so no seq
# is ever taken by a message that was not stored. (With no room found nothing is written
# and the statement returns no rows.) The caller then redoes the batch the long way.
_INSERT_STATEMENT = (
    "WITH v AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::bigint[])"
    " WITH ORDINALITY AS v(room_id, sender_id, ts, kind, text, client_id, system_event,"
    " system_user, mentions, mention_room, k, n)),"
    " locked AS (SELECT id, seq FROM rooms WHERE id = ANY($12::text[]) ORDER BY id"
    " FOR NO KEY UPDATE),"
    " ins AS (INSERT INTO messages (room_id, sender_id, ts, kind, text, client_id,"
    " system_event, system_user, mentions, mention_room, seq)"
    " SELECT v.room_id, v.sender_id, v.ts, v.kind, v.text, v.client_id, v.system_event,"
    " v.system_user, v.mentions, v.mention_room, l.seq + v.k FROM v JOIN locked l"
    " ON l.id = v.room_id ORDER BY v.n"
    " ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING id, room_id, seq, sender_id),"
    " upd AS (UPDATE rooms r SET seq = l.seq + c.k FROM locked l"
    " JOIN unnest($12::text[], $13::bigint[]) AS c(id, k) ON c.id = l.id"
    " WHERE r.id = l.id"
    " AND (SELECT 1 / (CASE WHEN COUNT(*) = $14 THEN 1 ELSE 0 END) FROM ins) = 1)"
    " SELECT i.id, i.room_id, i.seq, u.name FROM ins i LEFT JOIN users u ON u.id = i.sender_id"
    " WHERE (SELECT 1 / (CASE WHEN COUNT(*) = $14 THEN 1 ELSE 0 END) FROM ins) = 1"
)


def _columns(msgs: Sequence[NewMessage]) -> list[list[Any]]:
    """The message columns ``_INSERT_MANY`` and ``_INSERT_STATEMENT`` unnest ($1-$10)."""
    return [
        [m.room for m in msgs],
        [m.sender_id for m in msgs],
        [m.ts for m in msgs],
        [m.kind for m in msgs],
        [m.text for m in msgs],
        [m.client_id for m in msgs],
        [m.system_event for m in msgs],
        [m.system_user for m in msgs],
        [" ".join(m.mentions.names) for m in msgs],
        [int(m.mentions.room) for m in msgs],
    ]


async def insert_statement(
    conn: asyncpg.Connection, batch: Sequence[Pending]
) -> list[InsertResult] | None:
    """A batch of plain messages (see :func:`_plain`) in one autocommit statement, or None
    when it did not apply (nothing was written then: see ``_INSERT_STATEMENT``)."""
    msgs = [msg for msg, _ in batch]
    ranks: dict[str, int] = {}
    ks: list[int] = []
    for m in msgs:
        ranks[m.room] = ranks.get(m.room, 0) + 1
        ks.append(ranks[m.room])
    try:
        rows = await conn.fetch(
            _INSERT_STATEMENT,
            *_columns(msgs),
            ks,
            list(ranks),
            list(ranks.values()),
            len(msgs),
        )
    except asyncpg.DivisionByZeroError:
        return None  # not every message went in: undone as a whole
    if not rows:
        return None  # no room of the batch exists: nothing was written
    # every row is in (anything less raised above)
    assert len(rows) == len(msgs), "a partial batch cannot commit"
    # the k-th message of a room in the batch took the room's k-th new seq
    by_room: dict[str, list[asyncpg.Record]] = {}
    for row in sorted(rows, key=lambda r: int(r[2])):
        by_room.setdefault(row[1], []).append(row)
    results: list[InsertResult] = []
    for msg, k in zip(msgs, ks, strict=True):
        row = by_room[msg.room][k - 1]
        results.append((_made(msg, int(row[0]), row[3], int(row[2])), True))
    return results


class _NotPlain(Exception):
    """The one-statement path does not apply after all (a room gone, a retry): roll back."""


def _plain(batch: Sequence[Pending]) -> bool:
    """Only messages that are one row each (no image, file, reply or mention rows), and no
    client id twice: the common batch, stored by one statement."""
    keys = set()
    for msg, _ in batch:
        if msg.image is not None or msg.upload_id is not None or msg.reply_to is not None:
            return False
        if msg.mentions.user_ids:
            return False
        if msg.client_id is not None:
            key = (msg.sender_id, msg.client_id)
            if key in keys:
                return False
            keys.add(key)
    return True


async def _insert_many(
    conn: asyncpg.Connection, batch: Sequence[Pending], seqs: dict[str, int]
) -> list[InsertResult]:
    """Plain messages in one ``INSERT ... SELECT FROM unnest`` (ids drawn in batch order).

    Raises _NotPlain when a row did not go in (a retry of a stored client id) or a room is
    gone: the caller rolls back and takes the per-message path, which handles both."""
    if any(msg.room not in seqs for msg, _ in batch):
        raise _NotPlain
    taken: list[int] = []
    for msg, _ in batch:
        seqs[msg.room] += 1
        taken.append(seqs[msg.room])
    msgs = [msg for msg, _ in batch]
    rows = await conn.fetch(
        _INSERT_MANY,
        *_columns(msgs),
        taken,
    )
    if len(rows) != len(msgs):
        raise _NotPlain
    stored = {(row[1], int(row[2])): row for row in rows}
    results: list[InsertResult] = []
    for msg, seq in zip(msgs, taken, strict=True):
        row = stored[(msg.room, seq)]
        results.append((_made(msg, int(row[0]), row[3], seq), True))
    return results


def _made(msg: NewMessage, message_id: int, sender: str | None, seq: int) -> MessageRecord:
    """A new message as a read would return it, built from what was just written."""
    img = msg.image
    return MessageRecord(
        id=message_id,
        room=msg.room,
        sender_id=msg.sender_id,
        sender=sender,
        ts=msg.ts,
        kind=msg.kind,
        text=msg.text,
        client_id=msg.client_id,
        image=None
        if img is None
        else ImageRecord(
            id=img.id,
            mime=img.mime,
            name=img.name,
            size=len(img.data),
            width=img.width,
            height=img.height,
            thumb=bytes(img.thumb),
            thumb_mime=img.thumb_mime,
        ),
        system_event=msg.system_event,
        system_user=msg.system_user,
        seq=seq,
        mentions=tuple(" ".join(msg.mentions.names).split()),
    )


async def insert_fast(conn: asyncpg.Connection, batch: Sequence[Pending]) -> list[InsertResult]:
    """The batch in one transaction, no savepoints; any failure raises (and rolls back).

    A batch of plain messages (the usual one) is one autocommit statement, one round trip
    whatever its size (``_INSERT_STATEMENT``); should that not apply, the same in five
    (BEGIN, lock, insert, seqs, COMMIT). Otherwise one statement per message, more for
    images, mentions and files."""
    plain = _plain(batch)
    if plain and not conn.is_in_transaction():
        done = await insert_statement(conn, batch)
        if done is not None:
            return done
    if len(batch) > 1 and plain:
        try:
            async with conn.transaction():
                before = await _lock_rooms(conn, batch)
                seqs = dict(before)
                results = await _insert_many(conn, batch, seqs)
                await _write_seqs(conn, before, seqs)
            return results
        except _NotPlain:
            pass
    async with conn.transaction():
        before = await _lock_rooms(conn, batch)
        seqs = dict(before)
        results = [await _insert_one(conn, msg, seqs) for msg, _ in batch]
        await _write_seqs(conn, before, seqs)
    return results


async def insert_isolated(
    conn: asyncpg.Connection, batch: Sequence[Pending]
) -> list[InsertResult | Exception]:
    """The slow path: a savepoint per message, so one failure stays its own caller's."""
    results: list[InsertResult | Exception] = []
    async with conn.transaction():
        before = await _lock_rooms(conn, batch)
        seqs = dict(before)
        for msg, _ in batch:
            last = seqs.get(msg.room)
            try:
                async with conn.transaction():  # a savepoint
                    results.append(await _insert_one(conn, msg, seqs))
            except (asyncpg.PostgresError, UploadUnavailable, RoomGone, ValueError) as exc:
                # a constraint, a raced claim, a closed room, a deadlock on a retry: only
                # this caller gets it, never its batch neighbours. (asyncpg raises
                # ValueError-based errors for data it cannot encode.) A lost connection
                # (InterfaceError, OSError) fails the whole batch in the caller instead.
                if isinstance(exc, asyncpg.PostgresConnectionError):
                    raise
                if last is not None:
                    seqs[msg.room] = last  # rolled back: its seq was not taken
                results.append(exc)
        await _write_seqs(conn, before, seqs)
    return results
