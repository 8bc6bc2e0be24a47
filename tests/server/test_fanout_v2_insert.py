"""The batch fast path of the SQLite insert (issue 9): seqs counted per batch, records built.

Group commit now takes each room's seq once per batch and writes it back once, and builds a
new message's record instead of reading it back. These check, through ``SQLiteStorage``,
that this is invisible: seqs follow ids in every room with no gap, the rooms' counters end
at the last seq, a retry inside the same batch takes no seq, and every returned record
equals the stored row as the read path loads it.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from server.storage.base import NO_MENTIONS, Mentions, MessageRecord, NewMessage
from server.storage.sqlite import SQLiteStorage


async def _scenario() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        storage = SQLiteStorage(Path(tmp) / "parley.sqlite3")
        await storage.open()
        try:
            users = [await storage.create_user(f"u{i}", "x", 0) for i in range(4)]
            ids = [u.id for u in users]
            for room in ("alpha", "beta"):
                await storage.create_room(room, "public", "", ids[0], ids)
            before = await storage.room_seqs()

            def msg(i: int, room: str, client_id: str) -> NewMessage:
                mentions = Mentions(("u1", "@room"), (ids[1],), True) if i % 4 == 0 else None
                return NewMessage(
                    room,
                    ids[i % 4],
                    1000 + i,
                    "text",
                    f"hello {i}",
                    client_id,
                    mentions=mentions or NO_MENTIONS,
                )

            # started together, so they share one group-commit batch; "c5" is sent twice
            sends = [msg(i, "alpha" if i % 3 else "beta", f"c{i}") for i in range(60)]
            sends.append(msg(5, "alpha" if 5 % 3 else "beta", "c5"))
            results = await asyncio.gather(*(storage.insert_message(m) for m in sends))
            created = [rec for rec, new in results if new]
            assert len(created) == 60
            assert sum(1 for _, new in results if not new) == 1
            retry, _ = results[-1]
            assert retry == results[5][0]  # the retry answers the stored message

            after = await storage.room_seqs()
            for room in ("alpha", "beta"):
                mine = sorted((r for r in created if r.room == room), key=lambda r: r.id)
                seqs = [r.seq for r in mine]
                assert seqs == list(range(before[room] + 1, before[room] + 1 + len(mine)))
                assert after[room] == seqs[-1]
                # what the sender got is what the read path loads
                stored, _ = await storage.history(room, None, None, 100)
                by_id: dict[int, MessageRecord] = {r.id: r for r in stored}
                for rec in mine:
                    assert by_id[rec.id] == rec

            # a message after the batches continues each room's count
            later, new = await storage.insert_message(msg(99, "beta", "later"))
            assert new and later.seq == after["beta"] + 1
        finally:
            await storage.close()


def test_batched_seqs_and_built_records_match_the_stored_rows() -> None:
    asyncio.run(_scenario())
