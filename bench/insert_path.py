"""The storage insert path alone: CPU per message of SQLite group commit, split by stage.

Sends ``-n`` messages through ``SQLiteStorage.insert_message`` from ``-s`` concurrent
senders (so group commit batches up to ``-s`` of them) on a fresh data dir, and reports
per message: the whole process's CPU, the writer thread's CPU split into the statements
and the COMMIT (where FTS5 writes its index segment), statements per message, the mean
batch size and the WAL bytes per commit. CPU time, not wall time: on a shared machine it
is the steadier figure (take the minimum of a few runs; load only ever adds to it).

    python bench/insert_path.py                      # 2,000 messages, 10 senders
    python bench/insert_path.py -s 1 --per-statement # batches of 1, each statement timed

Works on any tree whose ``SQLiteStorage`` batches in ``_insert_batch(conn, batch)``
(protocol v1 and v2): ``PYTHONPATH=/path/to/tree python bench/insert_path.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from pathlib import Path
from typing import Any

from server.storage.base import NewMessage
from server.storage.sqlite import SQLiteStorage


class _Rows:
    """A fetched result standing in for a cursor (``--per-statement`` times the fetch)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows

    def __iter__(self) -> Any:
        return iter(self.rows)


class _TimedConnection:
    """Wraps the writer's connection: times COMMIT (and each statement if asked)."""

    def __init__(self, conn: Any, stats: collections.Counter[str], per: bool) -> None:
        self._conn = conn
        self._stats = stats
        self._per = per

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> Any:
        t0 = time.thread_time()
        if sql == "COMMIT":
            result = self._conn.execute(sql, *args)
            self._stats["commit_cpu"] += time.thread_time() - t0
            self._stats["commits"] += 1
            return result
        self._stats["statements"] += 1
        result = self._conn.execute(sql, *args)
        if self._per:
            if sql.lstrip().upper().startswith("SELECT"):
                result = _Rows(result.fetchall())
            words = sql.split()
            self._stats["stmt " + " ".join(words[:3])[:40]] += time.thread_time() - t0
        return result

    def executemany(self, sql: str, *args: Any) -> Any:
        self._stats["statements"] += 1
        return self._conn.executemany(sql, *args)


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="parley-insert-", dir=args.data_root))
    storage = SQLiteStorage(data / "parley.sqlite3")
    await storage.open()
    users = [await storage.create_user(f"u{i}", "x", 0) for i in range(args.senders)]
    await storage.create_room("bench", "public", "", users[0].id, [u.id for u in users])
    stats: collections.Counter[str] = collections.Counter()
    original = storage._insert_batch

    def timed(conn: Any, batch: Any) -> Any:
        t0 = time.thread_time()
        result = original(_TimedConnection(conn, stats, args.per_statement), batch)
        stats["writer_cpu"] += time.thread_time() - t0
        stats["batches"] += 1
        stats["messages"] += len(batch)
        return result

    storage._insert_batch = timed  # type: ignore[method-assign]
    wal = data / "parley.sqlite3-wal"
    wal0 = wal.stat().st_size if wal.exists() else 0
    per_sender = args.messages // args.senders

    async def sender(i: int) -> None:
        for k in range(per_sender):
            text = f"fanout-{i}-{k} hello everyone, about the roadmap for next week"
            await storage.insert_message(
                NewMessage(
                    "bench",
                    users[i].id,
                    int(time.time() * 1000),
                    "text",
                    text,
                    client_id=f"c{i}-{k}",
                )
            )

    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(sender(i) for i in range(args.senders)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = stats["messages"]
    commit = stats["commit_cpu"]
    print(
        f"{n} messages, {args.senders} senders: {n / wall:,.0f} msg/s wall; CPU per message: "
        f"process {cpu / n * 1e6:.0f} µs, writer {stats['writer_cpu'] / n * 1e6:.0f} µs "
        f"(statements {(stats['writer_cpu'] - commit) / n * 1e6:.0f} + COMMIT "
        f"{commit / n * 1e6:.0f}); {stats['statements'] / n:.1f} statements/message; "
        f"batch {n / max(stats['batches'], 1):.1f}; "
        f"WAL {(wal.stat().st_size - wal0) / max(stats['commits'], 1) / 1024:.1f} KiB/commit"
    )
    if args.per_statement:
        for key, value in stats.most_common():
            if key.startswith("stmt "):
                print(f"  {value / n * 1e6:6.1f} µs/message  {key[5:]}")
    await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--messages", type=int, default=2000)
    parser.add_argument("-s", "--senders", type=int, default=10)
    parser.add_argument("--data-root", default=None, help="where the fresh data dir goes")
    parser.add_argument(
        "--per-statement",
        action="store_true",
        help="time every statement too (adds its own overhead)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
